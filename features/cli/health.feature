Feature: mlxk health tells complete, runnable models from broken ones
  A model is healthy only when its snapshot is complete and loadable; each unhealthy
  verdict says what is wrong in words a user can act on.

  Scenario Outline: A broken repo is unhealthy with a reason
    # spec: CACHE-HEALTH-RULES
    Given the standard fixture cache
    When I run "mlxk health <model> --json"
    Then the exit code is 1
    And the output is a valid JSON envelope for "health"
    And the JSON field "data.summary.unhealthy_count" is 1
    And the JSON field "data.unhealthy.0.reason" contains "<reason>"

    Examples:
      | model                               | reason                       |
      | mlx-community/Broken-LFS-Pointer    | Git LFS pointer              |
      | mlx-community/Broken-Missing-Shard  | missing weight shard         |
      | mlx-community/Broken-Truncated      | truncated                    |
      | mlx-community/Broken-No-Config      | config.json is missing       |
      | mlx-community/Broken-Partial-Download | partial download           |

  Scenario: A healthy model passes, and so does a multi-shard one with its index
    # spec: CACHE-HEALTH-RULES
    Given the standard fixture cache
    When I run "mlxk health TinyLlama-Chat-sharded --json"
    Then the exit code is 0
    And the JSON field "data.healthy.0.reason" is "Multi-file model complete"

  Scenario: Checking the whole cache fails when any model is unhealthy
    # spec: CACHE-HEALTH-EXIT
    Given the standard fixture cache
    When I run "mlxk health"
    Then the exit code is 1
    And stdout contains "unhealthy mlx-community/Broken-Truncated"
    And stdout contains "healthy   mlx-community/TinyLlama-Chat-4bit — Model is healthy"

  Scenario: A GGUF repo has healthy files but cannot run with mlx-lm
    # spec: CACHE-RUNTIME
    Given the standard fixture cache
    When I run "mlxk show TheBloke/Tiny-Chat-GGUF --json"
    Then the JSON field "data.model.health" is "healthy"
    And the JSON field "data.model.runtime_compatible" is "False"
    And the JSON field "data.model.reason" contains "GGUF weights cannot run with mlx-lm"

  Scenario: --deep verifies every file against its hash
    # spec: CACHE-HEALTH-DEEP
    Given the standard fixture cache
    When I run "mlxk health TinyLlama-Chat-4bit --deep --json"
    Then the exit code is 0
    And the JSON field "data.healthy.0.reason" is "all files match their hashes"

  Scenario: A corrupt config.json is reported, and list and show still work
    # spec: CACHE-BAD-CONFIG
    Given a cache with these models:
      | name             | kind      | revisions |
      | acme/Good-Chat   | chat-4bit | 1         |
      | acme/Bad-Config  | chat-4bit | 1         |
    And the config.json of "acme/Bad-Config" is replaced by "{not json"
    When I run "mlxk health acme/Bad-Config --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" is "config.json is not valid JSON"
    When I run "mlxk list --json"
    Then the exit code is 0
    And the JSON field "data.count" is 2
    When I run "mlxk show acme/Bad-Config"
    Then the exit code is 0
    And stdout contains "Health: unhealthy"
    When I run "mlxk list --all --health"
    Then stdout contains "unhealthy"
    And stdout contains "config.json is not valid JSON"

  Scenario Outline: A file mlxk may not read is reported as such, and nothing else breaks
    # spec: CACHE-UNREADABLE
    Given a cache with these models:
      | name             | kind      | revisions |
      | acme/Good-Chat   | chat-4bit | 1         |
      | acme/Locked      | chat-4bit | 1         |
    And the file "<file>" of "acme/Locked" may not be read
    When I run "mlxk health --json" as a user without access to that file
    Then the exit code is 1
    And the JSON field "data.summary.healthy_count" is 1
    And the JSON field "data.unhealthy.0.reason" is "<file> cannot be read (permission denied); check its permissions"
    When I run "mlxk list --json" as a user without access to that file
    Then the exit code is 0
    And the JSON field "data.count" is 2
    When I run "mlxk run acme/Locked hi" as a user without access to that file
    Then the exit code is 1
    And the error is one line on stderr without a traceback
    And stderr contains "cannot be read (permission denied)"

    Examples:
      | file              |
      | config.json       |
      | model.safetensors |
      | tokenizer.json    |

  Scenario: A file huggingface_hub recorded for the commit is missing
    # spec: CACHE-HEALTH-TREE
    Given a cache with these models:
      | name             | kind      | revisions |
      | acme/Lost-Tokens | chat-4bit | 1         |
    And the file "tokenizer.json" of "acme/Lost-Tokens" is deleted
    When I run "mlxk health acme/Lost-Tokens --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" contains "files huggingface_hub recorded is missing (tokenizer.json); run 'mlxk pull' again"

  Scenario: --deep finds a file whose bytes changed but not its size
    # spec: CACHE-HEALTH-DEEP
    Given a cache with these models:
      | name             | kind      | revisions |
      | acme/Bit-Rot     | chat-4bit | 1         |
    And one byte of "model.safetensors" of "acme/Bit-Rot" is flipped
    When I run "mlxk health acme/Bit-Rot --json"
    Then the exit code is 0
    When I run "mlxk health acme/Bit-Rot --deep --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" is "model.safetensors does not match its recorded hash (corrupted on disk)"

  Scenario: health --all is accepted as in 1.x, and not together with a model
    # spec: CACHE-HEALTH-ALL
    Given a cache with these models:
      | name           | kind      | revisions |
      | acme/Good-Chat | chat-4bit | 1         |
    When I run "mlxk health --all --json"
    Then the exit code is 0
    And the JSON field "data.summary.healthy_count" is 1
    When I run "mlxk health acme/Good-Chat --all --json"
    Then the exit code is 2
    And the JSON error type is "usage_error"

  Scenario Outline: Sharded weights are healthy only when every shard is there, whole and indexed
    # spec: CACHE-HEALTH-RULES
    Given a cache holding "acme/Sharded" with <layout>
    When I run "mlxk health acme/Sharded --json"
    Then the JSON field "<where>.0.reason" contains "<says>"

    Examples:
      | layout                                   | where          | says                                    |
      | two shards and their index               | data.healthy   | Multi-file model complete               |
      | two shards, one of them empty            | data.unhealthy | is empty                                |
      | two shards, one an LFS pointer           | data.unhealthy | Git LFS pointer                         |
      | two shards and no index                  | data.unhealthy | sharded weights without model.safetensors.index.json |
      | one of two shards and no index           | data.unhealthy | sharded weights without model.safetensors.index.json |
      | a PyTorch index and its two shards       | data.healthy   | Multi-file model complete               |
      | a .partial file beside the weights       | data.unhealthy | partial download                        |
      | no weight files                          | data.unhealthy | no weight files                         |

  Scenario: A model with no tokenizer at all is unhealthy, one whose recorded tokenizer is gone too
    # spec: CACHE-HEALTH-TOKENIZER
    Given a cache with these models:
      | name               | kind      | revisions |
      | acme/No-Tokenizer  | chat-4bit | 1         |
      | acme/Lost-Tokenizer | chat-4bit | 1        |
    And the file "tokenizer.json" of "acme/No-Tokenizer" is deleted, with huggingface_hub's record of it
    And the file "tokenizer.json" of "acme/Lost-Tokenizer" is deleted
    When I run "mlxk health acme/No-Tokenizer --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" contains "no tokenizer"
    When I run "mlxk health acme/Lost-Tokenizer --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" contains "huggingface_hub recorded is missing (tokenizer.json)"
