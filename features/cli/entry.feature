Feature: The mlxk command, its help, its version and its JSON envelope
  Every command answers a person in plain text and a script in one JSON envelope
  ({status, command, data, error, api_version}) shaped like mlx-knife 2.0's.

  Scenario: --version prints the version
    # spec: FND-VERSION
    When I run "mlxk --version"
    Then the exit code is 0
    And stdout contains "mlxk 0."

  Scenario: version --json reports the CLI and JSON API versions
    # spec: FND-VERSION-JSON
    When I run "mlxk version --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "version"
    And the JSON field "data.json_api_spec_version" is "1.0.0"
    And the JSON field "api_version" is "json-1.0.0"

  Scenario: --help lists the commands
    # spec: FND-HELP
    When I run "mlxk --help" as a separate process
    Then the exit code is 0
    And the help names every command

  Scenario: No arguments print the help
    # spec: FND-NOARGS
    When I run "mlxk"
    Then the exit code is 0
    And stdout contains "usage: mlxk"

  Scenario: An unknown command is a usage error with exit code 2
    # spec: FND-UNKNOWN
    When I run "mlxk frobnicate"
    Then the exit code is 2
    And the error is one line on stderr without a traceback

  Scenario: A usage error under --json is a JSON error envelope
    # spec: FND-ENVELOPE
    When I run "mlxk frobnicate --json"
    Then the exit code is 2
    And the output is a valid JSON envelope for "null"
    And the JSON status is "error"
    And the JSON error type is "usage_error"

  Scenario: python -m mlxk is the same program
    # spec: FND-MODULE
    When I run "mlxk version --json" as a separate process
    Then the exit code is 0
    And the output is a valid JSON envelope for "version"
    And the installed mlxk script prints exactly the same for "version --json"

  Scenario: --json works before the command as well as after it
    # spec: FND-JSON-GLOBAL
    Given an empty HF cache
    When I run "mlxk --json list"
    Then the exit code is 0
    And the output is a valid JSON envelope for "list"
    When I run "mlxk --json version"
    Then the output is a valid JSON envelope for "version"

  Scenario: version names mlx, mlx-lm and Python, as its help says
    # spec: FND-VERSION
    When I run "mlxk version"
    Then the exit code is 0
    And stdout contains "(mlx "
    And stdout contains ", mlx-lm "
    And stdout contains ", Python "
