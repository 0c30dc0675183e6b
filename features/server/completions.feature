Feature: POST /v1/completions continues raw text

  Scenario: The base model continues a prompt
    # spec: SRV-COMPLETIONS
    Given a running server on the standard fixture cache
    When the openai client completes "mlx-community/TinyLlama-Base": "Count: one two" with {"max_tokens": 3}
    Then the completion text is "three four five"
