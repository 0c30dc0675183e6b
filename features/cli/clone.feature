Feature: mlxk clone copies a cached model into a folder of its own
  Plain files, not links into the cache, each verified by its SHA-256 and recorded, so
  an interrupted clone resumes and health --deep checks the folder later.

  Background:
    Given the standard fixture cache

  Scenario: A clone is a healthy folder model that runs
    # spec: CACHE-CLONE
    When I run "mlxk clone TinyLlama-Chat-4bit ./copy --json" in the scenario folder
    Then the exit code is 0
    And the output is a valid JSON envelope for "clone"
    And the folder "copy" holds plain files, no links
    When I run "mlxk health ./copy --deep" in the scenario folder
    Then the exit code is 0
    And stdout contains "all files match their hashes"
    When I run "mlxk run ./copy 'Hi there'" in the scenario folder
    Then stdout is exactly "Hello! I am a tiny test model, happy to help."

  Scenario: An interrupted clone resumes and ends complete
    # spec: CACHE-CLONE
    When I run "mlxk clone TinyLlama-Chat-4bit ./copy" in the scenario folder
    And the clone in "copy" is left as an interruption leaves it
    And I run "mlxk clone TinyLlama-Chat-4bit ./copy --json" in the scenario folder
    Then the exit code is 0
    And the JSON field "data.resumed_files" is 5
    When I run "mlxk health ./copy --deep" in the scenario folder
    Then the exit code is 0

  Scenario: A clone's file changed afterwards is caught by health --deep
    # spec: CACHE-CLONE
    When I run "mlxk clone TinyLlama-Chat-4bit ./copy" in the scenario folder
    And one byte of "model.safetensors" in the folder "copy" is flipped
    And I run "mlxk health ./copy --deep" in the scenario folder
    Then the exit code is 1
    And stdout contains "does not match its recorded hash"

  Scenario Outline: A clone that cannot be made is one line and nothing is written
    # spec: CACHE-CLONE
    Given a copy of "mlx-community/TinyLlama-Chat-4bit" in the folder "taken"
    When I run "<command>" in the scenario folder
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "<text>"

    Examples:
      | command                                          | text                   |
      | mlxk clone TinyLlama-Chat-4bit ./taken           | not empty              |
      | mlxk clone ./taken ./other                       | not by a path          |
      | mlxk clone nobody/nothing ./other                | nobody/nothing         |
      | mlxk clone TinyLlama-Chat-4bit <cache>/copy      | in the Hugging Face cache |

  Scenario: A cached model whose bytes changed is not cloned as if it were whole
    # spec: CACHE-CLONE
    Given a cache with these models:
      | name         | kind      | revisions |
      | acme/Bit-Rot | chat-4bit | 1         |
    And one byte of "model.safetensors" of "acme/Bit-Rot" is flipped
    When I run "mlxk clone acme/Bit-Rot ./copy --json" in the scenario folder
    Then the exit code is not 0
    And the JSON error type is "model_corrupted"
    And the JSON field "error.message" contains "does not match its recorded hash"
