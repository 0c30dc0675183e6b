Feature: mlxk show and model names
  One model in detail, found by any of the names a user would type.

  Background:
    Given the standard fixture cache

  Scenario: show gives framework, type, context, quantization and health
    # spec: CACHE-SHOW
    When I run "mlxk show TinyLlama-Chat-mxfp4 --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "show"
    And the JSON field "data.model.quantization.mode" is "mxfp4"
    And the JSON field "data.model.quantization.group_size" is 32
    And the JSON field "data.model.health" is "healthy"
    And the JSON field "data.metadata.architecture" is "LlamaForCausalLM"

  Scenario: show --files lists the snapshot's files with sizes and types
    # spec: CACHE-SHOW-FILES
    When I run "mlxk show TinyLlama-Chat-sharded --files --json"
    Then the output is a valid JSON envelope for "show"
    And the JSON files include "model-00001-of-00002.safetensors" as "weights"
    And the JSON files include "tokenizer_config.json" as "tokenizer"
    And the JSON files include "config.json" as "config"

  Scenario: show --config prints config.json
    # spec: CACHE-SHOW-CONFIG
    When I run "mlxk show TinyQwen3-Think-4bit --config --json"
    Then the JSON field "data.config.model_type" is "qwen3"

  Scenario: GGUF repos list their quantization variants with sizes
    # spec: CACHE-DETECT-GGUF
    When I run "mlxk show TheBloke/Tiny-Chat-GGUF --json"
    Then the JSON field "data.metadata.gguf_variants.0.quantization" is "Q4_K_M"
    And the JSON field "data.metadata.gguf_variants.1.quantization" is "Q8_0"

  Scenario: The human view of a model
    # spec: CACHE-SHOW
    When I run "mlxk show TinyLlama-Chat-4bit"
    Then stdout contains "Model: mlx-community/TinyLlama-Chat-4bit@"
    And stdout contains "Quantization: 4bit, group size 64"
    And stdout contains "Health: healthy"

  Scenario Outline: Names a user types resolve to one model
    # spec: CACHE-NAME-RESOLVE
    When I run "mlxk show <typed> --json"
    Then the JSON field "data.model.name" is "<name>"

    Examples:
      | typed                               | name                               |
      | mlx-community/TinyLlama-Chat-4bit   | mlx-community/TinyLlama-Chat-4bit  |
      | TinyLlama-Chat-4bit                 | mlx-community/TinyLlama-Chat-4bit  |
      | tinyllama-chat-8                    | mlx-community/TinyLlama-Chat-8bit  |
      | private-tiny                        | acme/private-tiny-chat             |

  Scenario: An ambiguous name fails and lists the candidates
    # spec: CACHE-NAME-AMBIGUOUS
    When I run "mlxk show tinyllama --json"
    Then the exit code is 1
    And the JSON error type is "ambiguous_match"
    And the JSON field "error.matches" contains "mlx-community/TinyLlama-Chat-4bit"

  Scenario: An unknown name fails with suggestions
    # spec: CACHE-NAME-SUGGEST
    When I run "mlxk show TinyLlama-Chatt-4bit"
    Then the exit code is 1
    And the error is one line on stderr without a traceback
    And stderr contains "did you mean mlx-community/TinyLlama-Chat-4bit"

  Scenario: A revision is selected by a hash prefix
    # spec: CACHE-NAME-HASH
    When I run "mlxk show TinyLlama-Chat-4bit --json"
    And I run "mlxk show" with the model's name and the first 7 characters of its hash
    Then the exit code is 0
    And the JSON field "data.model.name" is "mlx-community/TinyLlama-Chat-4bit"

  Scenario: An unknown hash lists the hashes there are
    # spec: CACHE-NAME-HASH
    When I run "mlxk show TinyLlama-Chat-4bit@ffffff --json"
    Then the exit code is 1
    And the JSON error type is "hash_not_found"

  Scenario: An exact short name wins over longer names that contain it
    # spec: CACHE-NAME-RESOLVE
    When I run "mlxk show TinyLlama-Chat --json"
    Then the JSON field "data.model.name" is "mlx-community/TinyLlama-Chat"

  Scenario: A revision that only one of several matching models has picks that model
    # spec: CACHE-NAME-HASH-PICKS
    Given a cache with these models:
      | name                       | kind      | revisions |
      | mlx-community/Alpha-Base   | base      | 1         |
      | mlx-community/Alpha-Chat   | chat-4bit | 1         |
    When I show revision 1 of "mlx-community/Alpha-Chat" as "Alpha"
    Then the exit code is 0
    And the JSON field "data.model.name" is "mlx-community/Alpha-Chat"
    When I run "mlxk show Alpha --json"
    Then the JSON error type is "ambiguous_match"
