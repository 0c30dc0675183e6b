Feature: mlxk embed prints embedding vectors
  One JSON line per text, from the arguments or from stdin, or one envelope with --json.

  Background:
    Given the standard fixture cache

  Scenario: Texts as arguments give one JSON line each, in order
    # spec: EMBED-CLI
    When I run "mlxk embed tiny-bert-embedder 'the sea' 'a cat and a dog'"
    Then the exit code is 0
    And stdout has 2 JSON lines with indexes 0 and 1 and vectors of 32 numbers with norm 1

  Scenario: Texts from stdin, one per line, blank lines skipped
    # spec: EMBED-CLI
    When I run "mlxk embed Tiny-Qwen3-Embedding --dimensions 8 --json" with stdin "the sea\n\nthe river\n"
    Then the exit code is 0
    And the output is a valid JSON envelope for "embed"
    And the JSON field "data.dimension" is 8
    And the JSON field "data.model" is "mlx-community/Tiny-Qwen3-Embedding"

  Scenario: The CLI's vectors are the server's
    # spec: EMBED-CLI
    Given a running server on the standard fixture cache
    When I run "mlxk embed tiny-bert-embedder 'the sea is blue'"
    Then its vector equals the server's for "the sea is blue" with "mlx-community/tiny-bert-embedder"

  Scenario Outline: What cannot be embedded is one line and a non-zero exit
    # spec: EMBED-CLI
    When I run "<command>"
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "<text>"

    Examples:
      | command                                                    | text                    |
      | mlxk embed TinyLlama-Chat-4bit 'hi'                        | not an embedding model  |
      | mlxk embed tiny-bert-embedder 'hi' --dimensions 8          | Matryoshka              |
      | mlxk embed tiny-bert-embedder '<60 word >'                 | over this model's 48    |
      | mlxk embed tiny-bert-embedder 'hi' --batch-size 0          | --batch-size            |

  Scenario: run, show and health know an embedding model for what it is
    # spec: EMBED-CLI
    When I run "mlxk run tiny-bert-embedder 'hi'"
    Then the exit code is not 0
    And stderr contains "mlxk embed"
    When I run "mlxk show tiny-bert-embedder --json"
    Then the JSON field "data.model.model_type" is "embedding"
    And the JSON field "data.model.embedding.pooling" is "mean"
    And the JSON field "data.model.embedding.dimension" is 32
    And the JSON field "data.model.embedding.max_length" is 48
    When I run "mlxk health tiny-bert-embedder --deep"
    Then the exit code is 0
    And stdout contains "healthy"
