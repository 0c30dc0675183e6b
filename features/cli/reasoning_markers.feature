Feature: Reasoning markers a tokenizer does not name
  A model may mark its reasoning with tokens of its own (here <reflect>…</reflect>,
  plain added tokens of its tokenizer). Named once, by --reasoning-tokens, the user's
  ~/.config/mlxk/models.toml or the model folder's mlxk.json, they split the output
  exactly as <think> does; unnamed, the output is left whole and show suggests them.

  Background:
    Given the standard fixture cache

  Scenario: Unnamed markers are left in the answer, and show suggests naming them
    # spec: RSN-CUSTOM-UNSET
    When I run "mlxk run TinyReflect Hi --json"
    Then the JSON field "data.response" is "<reflect>A greeting deserves a friendly reply.</reflect>\n\nHello, friend!"
    And the JSON field "data.reasoning" is null
    When I run "mlxk show TinyReflect --json"
    Then the output is a valid JSON envelope for "show"
    And the JSON field "data.reasoning.start" is null
    And the JSON field "data.reasoning.hint" contains "--reasoning-tokens '<reflect>,</reflect>'"
    When I run "mlxk show TinyReflect"
    Then stdout contains "Reasoning markers: none (hint: the tokenizer has <reflect> and </reflect>"

  Scenario: --reasoning-tokens splits the output as the built-in markers do
    # spec: RSN-CUSTOM
    When I run "mlxk run TinyReflect Hi --reasoning-tokens <reflect>,</reflect> --json"
    Then the JSON field "data.reasoning" is "A greeting deserves a friendly reply."
    And the JSON field "data.response" is "Hello, friend!"
    When I run "mlxk run TinyReflect Hi --reasoning-tokens <reflect>,</reflect> --hide-reasoning"
    Then stdout is exactly "Hello, friend!"

  Scenario: models.toml names the markers for run, show and chat
    # spec: RSN-CUSTOM
    Given the user's models.toml:
      """
      # the markers of models whose tokenizer does not say
      ["mlx-community/TinyReflect"]
      reasoning_tokens = ["<reflect>", "</reflect>"]
      """
    When I run "mlxk run TinyReflect Hi --json"
    Then the JSON field "data.reasoning" is "A greeting deserves a friendly reply."
    And the JSON field "data.response" is "Hello, friend!"
    When I run "mlxk show TinyReflect --json"
    Then the output is a valid JSON envelope for "show"
    And the JSON field "data.reasoning.start" is "<reflect>"
    And the JSON field "data.reasoning.source" is "models.toml"
    And the JSON field "data.reasoning.file" contains ".config/mlxk/models.toml"
    When I chat with "TinyReflect" typing "Hi" with "--hide-reasoning"
    Then the assistant's answers are "Hello, friend!"

  Scenario: A model folder's mlxk.json names its markers; models.toml overrides it
    # spec: RSN-CUSTOM
    Given a copy of "mlx-community/TinyReflect" in the folder "reflect"
    And the folder "reflect" has the mlxk.json {"reasoning_tokens": ["<reflect>", "</reflect>"]}
    When I run "mlxk run ./reflect Hi --json" in the scenario folder
    Then the JSON field "data.reasoning" is "A greeting deserves a friendly reply."
    When I run "mlxk show ./reflect --json" in the scenario folder
    Then the JSON field "data.reasoning.source" is "mlxk.json"
    Given the user's models.toml:
      """
      ["reflect"]
      reasoning_tokens = ["<ponder>", "</ponder>"]
      """
    When I run "mlxk show ./reflect --json" in the scenario folder
    Then the JSON field "data.reasoning.source" is "models.toml"
    And the JSON field "data.reasoning.problem" contains "'<ponder>' is not one token"

  Scenario: The built-in markers and their source are shown
    # spec: RSN-CUSTOM
    When I run "mlxk show TinyQwen3-Think-4bit --json"
    Then the JSON field "data.reasoning.start" is "<think>"
    And the JSON field "data.reasoning.source" is "tokenizer"
    When I run "mlxk show tiny-gpt-oss-harmony"
    Then stdout contains "Reasoning markers: <|channel|> … <|message|> (from tokenizer)"

  Scenario Outline: Bad markers or a bad models.toml are one clear line
    # spec: RSN-CUSTOM-BAD
    Given the user's models.toml:
      """
      <toml>
      """
    When I run "mlxk run TinyReflect Hi <flags>"
    Then the exit code is 2
    And the error is one line on stderr without a traceback
    And stderr contains "<message>"

    Examples:
      | toml                                                   | flags                                  | message                                   |
      | ["mlx-community/TinyReflect"                           |                                        | models.toml: not valid TOML               |
      | ["mlx-community/TinyReflect"]\nreasoning_tokens = "x" |                                        | reasoning_tokens must be two strings      |
      | ["mlx-community/TinyReflect"]\nreasoning_token = []   |                                        | unknown setting 'reasoning_token'         |
      | ["mlx-community/TinyReflect"]\nreasoning_tokens = [1,2] |                                      | reasoning markers must be non-empty strings |
      | ["mlx-community/TinyReflect"]\nreasoning_tokens = ["<ponder>", "</ponder>"] |       | '<ponder>' is not one token in this model's tokenizer |
      | # none                                                 | --reasoning-tokens <reflect>           | --reasoning-tokens takes START,END        |
      | # none                                                 | --reasoning-tokens <reflect>,<reflect> | the start and end markers must differ     |
      | # none                                                 | --reasoning-tokens <think>,</think>    | '<think>' is not one token                |

  Scenario: A bad models.toml is an invalid_config envelope with --json
    # spec: RSN-CUSTOM-BAD
    Given the user's models.toml:
      """
      ["mlx-community/TinyReflect"]
      reasoning_tokens = ["<reflect>"]
      """
    When I run "mlxk show TinyReflect --json"
    Then the exit code is 2
    And the output is a valid JSON envelope for "show"
    And the JSON error type is "invalid_config"

  Scenario: A server splits a configured model's reasoning, streamed or not
    # spec: RSN-CUSTOM
    Given the user's models.toml:
      """
      ["mlx-community/TinyReflect"]
      reasoning_tokens = ["<reflect>", "</reflect>"]
      """
    And a running server of its own reading the user's models.toml
    When the openai client asks "TinyReflect": "Hi"
    Then the answer is "Hello, friend!"
    And the reasoning is "A greeting deserves a friendly reply."
    When a client streams "TinyReflect" over HTTP: "Hi"
    Then the streamed content is "Hello, friend!" and the streamed reasoning_content "A greeting deserves a friendly reply."

  Scenario: serve --reasoning-tokens applies to the model --model loads
    # spec: RSN-CUSTOM
    Given a running server of its own with "TinyReflect" and --reasoning-tokens "<reflect>,</reflect>"
    When the openai client asks "mlx-community/TinyReflect": "Hi"
    Then the answer is "Hello, friend!"
    And the reasoning is "A greeting deserves a friendly reply."

  Scenario: A server refuses a model whose configured markers are not its tokens, and goes on
    # spec: RSN-CUSTOM-BAD
    Given the user's models.toml:
      """
      ["mlx-community/TinyReflect"]
      reasoning_tokens = ["<ponder>", "</ponder>"]
      """
    And a running server of its own reading the user's models.toml
    When a client asks for the model "TinyReflect"
    Then the HTTP status is 500
    And the error has the OpenAI shape with code "invalid_config"
    When the openai client asks "TinyLlama-Chat-4bit": "Hi"
    Then the answer is "Hello! I am a tiny test model, happy to help."

  Scenario: serve --reasoning-tokens without --model is refused at once
    # spec: RSN-CUSTOM-BAD
    When I run "mlxk serve --reasoning-tokens <reflect>,</reflect> --no-supervise --port 9"
    Then the exit code is 2
    And stderr contains "give --model too"
