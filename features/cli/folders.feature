Feature: Models in folders of their own, named by path
  A conversion, a fine-tune or a clone lives in a folder: run, show and health take its
  path (./x, /x, ~/x) with the same checks and JSON as a cached model; rm never deletes
  outside the cache.

  Background:
    Given the standard fixture cache
    And a copy of "mlx-community/TinyLlama-Chat-4bit" in the folder "models/chat"

  Scenario: run, show and health take a folder by its path
    # spec: FOLDER-MODELS
    When I run "mlxk run ./models/chat 'Hi there'" in the scenario folder
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    When I run "mlxk show ./models/chat --json" in the scenario folder
    Then the output is a valid JSON envelope for "show"
    And the JSON field "data.model.source" is "path"
    And the JSON field "data.model.name" is the absolute path of "models/chat"
    And the JSON field "data.model.health" is "healthy"
    When I run "mlxk show ./models/chat" in the scenario folder
    Then stdout contains "Folder: "
    When I run "mlxk health ./models/chat --deep" in the scenario folder
    Then the exit code is 0

  Scenario: rm refuses a folder and leaves it alone
    # spec: FOLDER-MODELS
    When I run "mlxk rm ./models/chat -f" in the scenario folder
    Then the exit code is not 0
    And stderr contains "only inside the Hugging Face cache"
    And the folder "models/chat" is still there, whole

  Scenario Outline: A path that is not a model folder is one clear line
    # spec: FOLDER-MODELS
    Given an empty folder "empty" and a file "notes.txt"
    When I run "mlxk run <path> 'Hi'" in the scenario folder
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "<text>"

    Examples:
      | path        | text                     |
      | ./missing   | no model folder at       |
      | ./notes.txt | is a file, not a model   |
      | ./empty     | config.json is missing   |

  Scenario: A pipe's text and an instruction make one prompt
    # spec: RUN-PIPE-INSTRUCTION
    When I run "mlxk run ./models/chat - 'and what now?' --json" in the scenario folder with stdin "I like banana"
    Then the exit code is 0
    And the JSON field "data.prompt" is "I like banana\n\nand what now?"
    And the JSON field "data.response" is "You mentioned the fruit earlier."

  Scenario: A second text without '-' is a usage error that says how
    # spec: RUN-PIPE-INSTRUCTION
    When I run "mlxk run ./models/chat 'one' 'two'" in the scenario folder
    Then the exit code is 2
    And stderr contains "use '-' as the prompt"
