Feature: Quantized and half-precision models on a CPU run from a float32 copy
  mlx's CPU kernels for quantized and bfloat16 weights neither use the fast BLAS mlxk binds
  nor gain from batching; float32 matmuls do both. On a CPU, a model whose float32 copy
  fits in half of the free memory runs from that copy (--cpu-float32 auto); the choice and
  its reason are always said.

  Background:
    Given the standard fixture cache

  Scenario Outline: run --verbose says how the weights run, and why
    # spec: CPU-FLOAT32
    When I run "mlxk run <model> Hi --verbose <flags>"
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stderr contains "<said>"

    Examples:
      | model                    | flags               | said                                            |
      | TinyLlama-Chat-4bit      |                     | [weights: float32 copy of 4bit: the float32 copy |
      | TinyLlama-Chat-8bit      |                     | [weights: float32 copy of 8bit: the float32 copy |
      | TinyLlama-Chat-bf16      |                     | [weights: float32 copy of bf16: the float32 copy |
      | TinyLlama-Chat-4bit      | --cpu-float32 never | [weights: 4bit: --cpu-float32 never]             |
      | TinyLlama-Chat           |                     | [weights: fp32: stored in float32]               |

  Scenario: The JSON timings name the weights the answer ran on
    # spec: CPU-FLOAT32
    When I run "mlxk run TinyLlama-Chat-4bit Hi --json"
    Then the output is a valid JSON envelope for "run"
    And the JSON field "data.timings.weights" is "float32 copy of 4bit"
    When I run "mlxk run TinyLlama-Chat-4bit Hi --json --cpu-float32 never"
    Then the JSON field "data.timings.weights" is "4bit"

  Scenario: A memory bound too small for the float32 copy keeps the stored weights, and says why
    # spec: CPU-FLOAT32
    Given MLXK_MEMORY_LIMIT is "10MB"
    When I run "mlxk run TinyLlama-Chat-4bit Hi --verbose"
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stderr contains "[weights: 4bit: a float32 copy (0.01 GB) would take more than half of the 0.01 GB available]"

  Scenario: A server reports each model's weights in /health and in timings
    # spec: CPU-FLOAT32
    Given a running server of its own keeping 2 models loaded
    When the openai client asks "TinyLlama-Chat-4bit, TinyLlama-Chat-bf16" in turn
    Then /health shows "TinyLlama-Chat-4bit" running from "float32 copy of 4bit"
    And /health shows "TinyLlama-Chat-bf16" running from "float32 copy of bf16"
    And /health counts the float32 copy's bytes for "TinyLlama-Chat-4bit"

  Scenario: The float32 copy batches: four clients at once each get the unbatched answer
    # spec: CPU-FLOAT32, SCALE-BATCH
    Given a running server of its own keeping 1 models loaded
    When 4 clients ask "mlx-community/TinyLlama-Chat-4bit" and "mlx-community/TinyLlama-Chat-4bit" in turn, all at once
    Then every client got its own model's answer
    And /health shows "TinyLlama-Chat-4bit" running from "float32 copy of 4bit"

  Scenario: serve --cpu-float32 never keeps the stored weights
    # spec: CPU-FLOAT32
    Given a running server of its own with --cpu-float32 never
    When the openai client asks "TinyLlama-Chat-4bit" in turn
    Then /health shows "TinyLlama-Chat-4bit" running from "4bit"

  Scenario: --cpu-float32 takes only auto, always or never
    # spec: CPU-FLOAT32
    When I run "mlxk run TinyLlama-Chat-4bit Hi --cpu-float32 sometimes"
    Then the exit code is 2
    And stderr contains "invalid choice: 'sometimes'"
