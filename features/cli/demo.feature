Feature: The built-in demo runs offline on a tiny real model
  A new user's first command writes a tiny MLX model into their Hugging Face cache
  and runs it, with no network: the text is deterministic, so it is also a smoke test.

  Scenario: The demo writes its model into the cache and prints the model's answer
    # spec: FND-DEMO
    Given an empty HF cache
    When I run "mlxk demo"
    Then the exit code is 0
    And stdout is exactly "Hello! I am a tiny test model, happy to help."
    And stderr contains "mlxk-demo/Tiny-Chat-4bit"
    And the cache holds a healthy snapshot of "mlxk-demo/Tiny-Chat-4bit"

  Scenario: The reasoning demo shows the reasoning apart from the answer
    # spec: FND-DEMO-REASONING
    Given an empty HF cache
    When I run "mlxk demo --reasoning"
    Then the exit code is 0
    And stdout is:
      """
      **[Reasoning]**

      The user greets me so I answer briefly.

      ---

      **[Answer]**

      Hi there, nice to meet you!
      """

  Scenario: The demo in JSON mode gives the answer and the reasoning as fields
    # spec: FND-DEMO-REASONING, RSN-JSON
    Given an empty HF cache
    When I run "mlxk demo --reasoning --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "demo"
    And the JSON field "data.response" is "Hi there, nice to meet you!"
    And the JSON field "data.reasoning" is "The user greets me so I answer briefly."
    And the JSON field "data.finish_reason" is "stop"

  Scenario: Running the demo twice reuses the cached model
    # spec: FND-DEMO
    Given an empty HF cache
    When I run "mlxk demo"
    And I run "mlxk demo --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "demo"
    And the JSON field "data.model" is "mlxk-demo/Tiny-Chat-4bit"
