Feature: mlxk run streams a model's answer
  What most users do first: one prompt, one streamed answer, with the chat template,
  the model's stop tokens and a token limit that fits the context.

  Background:
    Given the standard fixture cache

  Scenario: The answer streams to stdout without any end token
    # spec: RUN-STREAM
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there'"
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stdout does not contain "<|eot_id|>"

  Scenario: --no-stream prints the same text
    # spec: RUN-STREAM-PARITY
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there' --no-stream"
    Then stdout is exactly "Hello! I am a tiny test model, happy to help."

  Scenario: JSON output has the answer, real token counts and timings
    # spec: RUN-JSON
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there' --json"
    Then the output is a valid JSON envelope for "run"
    And the JSON field "data.model" is "mlx-community/TinyLlama-Chat-4bit"
    And the JSON field "data.usage.prompt_tokens" is 12
    And the JSON field "data.usage.completion_tokens" is 13
    And the JSON field "data.usage.total_tokens" is 25
    And the JSON field "data.finish_reason" is "stop"

  Scenario: A system prompt reaches the model
    # spec: RUN-SYSTEM
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi' --system 'You love banana' --json"
    Then the JSON field "data.response" is "You mentioned the fruit earlier."

  Scenario: --no-chat-template sends the prompt as it is
    # spec: RUN-RAW
    When I run "mlxk run TinyLlama-Chat-4bit 'I like banana' --json"
    Then the JSON field "data.response" is "You mentioned the fruit earlier."
    When I run "mlxk run TinyLlama-Chat-4bit 'I like banana' --no-chat-template --json"
    Then the JSON field "data.response" is "Hello! I am a tiny test model, happy to help."

  Scenario: A prompt can come from stdin
    # spec: RUN-STDIN
    When I run "mlxk run TinyLlama-Base - --max-tokens 3" with stdin "Count: one two"
    Then stdout is exactly "three four five"

  Scenario: A stop string ends the answer and is not shown
    # spec: RUN-STOP
    When I run "mlxk run TinyLlama-Chat-4bit Hi --stop 'm a t' --json"
    Then the JSON field "data.response" is "Hello! I a"
    And the JSON field "data.finish_reason" is "stop"

  Scenario: Without --max-tokens a model may fill what its context leaves after the prompt
    # spec: RUN-CONTEXT
    When I run "mlxk run TinyLlama-Base-ctx64 'Count: one' --json"
    Then the JSON field "data.finish_reason" is "length"
    And prompt and completion tokens add up to the 64-token context

  Scenario: --max-tokens limits the answer and the finish reason says so
    # spec: RUN-LIMIT
    When I run "mlxk run TinyLlama-Base 'Count: one' --max-tokens 2 --json"
    Then the JSON field "data.response" is "two three"
    And the JSON field "data.finish_reason" is "length"

  Scenario: Reasoning is shown apart, or hidden
    # spec: RSN-HUMAN, RSN-HARMONY
    When I run "mlxk run tiny-gpt-oss-harmony Hi"
    Then stdout is:
      """
      **[Reasoning]**

      The user says hello, so I reply kindly.

      ---

      **[Answer]**

      Hello from the harmony model!
      """
    When I run "mlxk run tiny-gpt-oss-harmony Hi --hide-reasoning"
    Then stdout is exactly "Hello from the harmony model!"

  Scenario: A template that opens <think> in the prompt still splits reasoning
    # spec: RSN-OPEN-THINK
    When I run "mlxk run TinyQwen3-Think-Open Hi --json"
    Then the JSON field "data.reasoning" is "The user greets me so I answer briefly."
    And the JSON field "data.response" is "Hi there, nice to meet you!"

  Scenario: --verbose reports load time, speeds and memory on stderr
    # spec: RUN-VERBOSE
    When I run "mlxk run TinyLlama-Chat-4bit Hi --verbose"
    Then stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stderr contains "tok/s"
    And stderr contains "peak memory"
    And stderr contains "[load "
    And stderr contains " cached)"

  Scenario Outline: Bad input is a one-line error, never a traceback
    # spec: RUN-BAD-INPUT
    When I run "mlxk run <model> <args>"
    Then the exit code is <code>
    And the error is one line on stderr without a traceback
    And stdout is empty

    Examples:
      | model                          | args                       | code |
      | nobody/nothing                 | Hi                         | 1    |
      | TinyLlama                      | Hi                         | 1    |
      | TheBloke/Tiny-Chat-GGUF        | Hi                         | 1    |
      | mlx-community/Broken-Truncated | Hi                         | 1    |
      | TinyLlama-Chat-4bit            | '   '                      | 2    |
      | TinyLlama-Chat-4bit            | Hi --max-tokens 0          | 2    |
      | TinyLlama-Chat-4bit            | Hi --temperature -1        | 2    |
      | TinyLlama-Chat-4bit            | Hi --top-p 7               | 2    |
      | TinyLlama-Chat-ctx64           | '<long>'                   | 1    |

  Scenario Outline: Under --json a bad run is an error envelope with a stable code
    # spec: RUN-BAD-INPUT
    When I run "mlxk run <model> Hi --json"
    Then the exit code is 1
    And the output is a valid JSON envelope for "run"
    And the JSON error type is "<code>"

    Examples:
      | model                          | code               |
      | nobody/nothing                 | model_not_found    |
      | TinyLlama                      | ambiguous_match    |
      | TheBloke/Tiny-Chat-GGUF        | model_not_runnable |
      | mlx-community/Broken-No-Config | model_unhealthy    |

  Scenario: Output to a closed pipe ends quietly
    # spec: RUN-PIPE
    When I run "mlxk run TinyLlama-Base 'Count: one' --max-tokens 2000" into a pipe closed after 5 bytes
    Then the process ended without a traceback

  Scenario: A model that cannot fit is refused before loading, with a clear error
    # spec: SCALE-MEMORY
    Given MLXK_MEMORY_LIMIT is "100KB"
    When I run "mlxk run TinyLlama-Chat-4bit Hi --json"
    Then the exit code is 1
    And the JSON error type is "insufficient_memory"

  Scenario: A BLAS library that cannot be loaded is named in one line, and the run answers
    # spec: SCALE-BLAS
    Given MLXK_BLAS is "/nonexistent/libcblas.so"
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there'" as a separate process
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stderr contains "MLXK_BLAS=/nonexistent/libcblas.so cannot be loaded"
    And stderr contains "using mlx's bundled BLAS"

  Scenario: --verbose says which BLAS the matmuls use
    # spec: SCALE-BLAS
    Given MLXK_BLAS is "off"
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there' --verbose" as a separate process
    Then the exit code is 0
    And stderr contains "[mlx's bundled BLAS (MLXK_BLAS=off)]"

  Scenario: In a terminal the answer appears token by token while it is generated
    # spec: RUN-STREAM
    When I run "mlxk run TinyLlama-Base 'Count: one' --max-tokens 3000" in a terminal
    Then " two three four five" is on the screen while it is still generating

  Scenario: --schema makes the answer JSON valid against a schema file
    # spec: RUN-SCHEMA
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there' --max-tokens 60 --json" with the schema file:
      """
      {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}, "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "days"]}
      """
    Then the exit code is 0
    And the output is a valid JSON envelope for "run"
    And the JSON answer is valid for the schema file

  Scenario: --json-object gets a JSON object even from a model with random weights
    # spec: RUN-SCHEMA
    When I run "mlxk run Tiny-Random-Llama 'Hi there' --json-object --max-tokens 20 --json"
    Then the exit code is 0
    And the JSON answer is a JSON object
    And the JSON field "data.finish_reason" is "length"

  Scenario Outline: A schema file that cannot be used is one line and a non-zero exit
    # spec: RUN-SCHEMA
    When I run "mlxk run TinyLlama-Chat-4bit 'Hi there'" with the schema file:
      """
      <schema>
      """
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "--schema"

    Examples:
      | schema                                    |
      | {not json                                 |
      | {"type": 5}                               |
      | ["a list"]                                |
      | {"type": "string", "pattern": "(?=a)b"}   |
