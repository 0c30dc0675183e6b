Feature: mlxk list shows the cached models
  Users keep dozens of models in the cache; list shows them sorted, with size, age,
  framework, type and health, and scripts read the same facts from --json.

  Scenario: The JSON list holds every cached repo with mlx-knife's field names
    # spec: CACHE-LIST-JSON
    Given the standard fixture cache
    When I run "mlxk list --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "list"
    And the JSON list has an entry "mlx-community/TinyLlama-Chat-4bit" with framework "MLX" and type "chat"
    And the JSON list has an entry "mlx-community/TinyLlama-Base" with framework "MLX" and type "base"
    And the JSON list has an entry "TheBloke/Tiny-Chat-GGUF" with framework "GGUF" and type "unknown"
    And the JSON list has an entry "pytorch-org/Tiny-Chat-PyTorch" with framework "PyTorch" and type "chat"
    And the JSON list has an entry "mlx-community/tiny-bert-embedder" with framework "MLX" and type "embedding"
    And the JSON list is sorted by name
    And every "last_modified" in the JSON list is UTC with a Z suffix

  Scenario: A private repo counts as MLX because its model card says so
    # spec: CACHE-DETECT-LENIENT
    Given the standard fixture cache
    When I run "mlxk list acme --json"
    Then the JSON field "data.count" is 1
    And the JSON field "data.models.0.framework" is "MLX"
    And the JSON field "data.models.0.runtime_compatible" is "True"

  Scenario: Reasoning models say so in their capabilities
    # spec: CACHE-DETECT-CAPS
    Given the standard fixture cache
    When I run "mlxk list Think-4bit --json"
    Then the JSON field "data.models.0.capabilities" is "['text-generation', 'chat', 'reasoning']"

  Scenario: Quantization and context come from the config
    # spec: CACHE-DETECT-QUANT
    Given the standard fixture cache
    When I run "mlxk list TinyLlama-Chat-8bit --json"
    Then the JSON field "data.models.0.quantization.bits" is 8
    And the JSON field "data.models.0.quantization.group_size" is 64
    And the JSON field "data.models.0.context_length" is 4096

  Scenario: The human table shows MLX chat models by default and everything with --all
    # spec: CACHE-LIST-HUMAN
    Given the standard fixture cache
    When I run "mlxk list"
    Then the exit code is 0
    And stdout contains "TinyLlama-Chat-4bit"
    And stdout contains "tiny-bert-embedder"
    And stdout does not contain "Tiny-Chat-GGUF"
    And stdout does not contain "TinyLlama-Base"
    When I run "mlxk list --all"
    Then stdout contains "TheBloke/Tiny-Chat-GGUF"
    And stdout contains "TinyLlama-Base"

  Scenario: --framework filters both outputs
    # spec: CACHE-LIST-FILTER
    Given the standard fixture cache
    When I run "mlxk list --framework gguf --json"
    Then the JSON field "data.count" is 1
    And the JSON field "data.models.0.name" is "TheBloke/Tiny-Chat-GGUF"

  Scenario Outline: An empty or missing cache is an empty list, not an error
    # spec: CACHE-LIST-EMPTY
    Given <cache>
    When I run "mlxk list --json"
    Then the exit code is 0
    And the JSON field "data.count" is 0
    When I run "mlxk list"
    Then the exit code is 0
    And stdout contains "No models found."

    Examples:
      | cache                                 |
      | no HF cache directory at all          |
      | an existing but empty HF cache folder |
