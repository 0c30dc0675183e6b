Feature: Bad requests get OpenAI-shaped 4xx errors and the server carries on
  A client's mistake is never a 500 and never silently ignored.

  Background:
    Given a running server on the standard fixture cache

  Scenario Outline: A bad request body is a 400 naming what is wrong
    # spec: SRV-BAD-INPUT
    When I POST to "/v1/chat/completions":
      """
      <body>
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "<code>"
    And the server still answers a normal request

    Examples:
      | body                                                                                       | code                  |
      | {not json                                                                                  | invalid_request       |
      | {"model": "mlx-community/TinyLlama-Chat-4bit"}                                             | invalid_request       |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": []}                             | invalid_request       |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": "hi"}                           | invalid_request       |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "robot", "content": "x"}]} | invalid_request   |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "temperature": -1} | invalid_request |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "max_tokens": "many"} | invalid_request |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]} | unsupported_parameter |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "n": 64} | invalid_request |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "string", "pattern": "(?=a)b"}}}} | invalid_request |
      | {"model": "a/b/c", "messages": [{"role": "user", "content": "x"}]}                         | invalid_model_name    |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21} | invalid_request |

  Scenario: An unsupported field names the parameter
    # spec: SRV-UNSUPPORTED
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]}
      """
    Then the HTTP status is 400
    And the error names the parameter "functions"

  Scenario Outline: A tool or schema the request gets wrong is a 400 naming the param
    # spec: TOOLS-BAD-INPUT
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyQwen3-Tools-4bit", "messages": <messages>, <extra>}
      """
    Then the HTTP status is 400
    And the error names the parameter "<param>"
    And the server still answers a normal request

    Examples:
      | messages | extra | param |
      | [{"role": "user", "content": "x"}] | "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nothing"}}}] | tools[0].function.parameters |
      | [{"role": "user", "content": "x"}] | "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}} | tool_choice |
      | [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "call_1", "content": "42"}] | "tools": [{"type": "function", "function": {"name": "f"}}] | messages[1].tool_call_id |
      | [{"role": "user", "content": "x"}] | "logprobs": true, "top_logprobs": 21 | top_logprobs |
      | [{"role": "user", "content": "x"}] | "n": 0 | n |
      | [{"role": "user", "content": "x"}] | "n": 129 | n |
      | [{"role": "user", "content": "x"}] | "n": 64 | n |
      | [{"role": "user", "content": "x"}] | "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "string", "pattern": "(?=a)b"}}} | response_format |
      | [{"role": "user", "content": "x"}] | "top_logprobs": 2 | top_logprobs |

  Scenario: A 10 MB body is refused
    # spec: SRV-BAD-INPUT
    When I POST 10 MB of JSON to "/v1/chat/completions"
    Then the HTTP status is 413
    And the error has the OpenAI shape with code "payload_too_large"

  Scenario: The "off" values real clients send by default are the default, not an error
    # spec: SRV-OFF-VALUES
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "Hi there"}], "tools": [], "tool_choice": "none", "functions": null, "parallel_tool_calls": false, "response_format": {"type": "text"}, "logprobs": false, "top_logprobs": 0, "logit_bias": {}, "n": 1, "seed": 7, "stop": null, "user": null, "store": false, "service_tier": "auto", "modalities": ["text"], "audio": null, "stream": false, "stream_options": null}
      """
    Then the HTTP status is 200
    And the JSON body field "choices.0.message.content" is "Hello! I am a tiny test model, happy to help."

  Scenario: An unknown model is a 404, an unrunnable one a 400 with the reason
    # spec: SRV-MODEL-ERRORS
    Then the openai client gets a 404 error with code "model_not_found" for "nobody/nothing"
    And the openai client gets a 400 error with code "model_not_runnable" for "TheBloke/Tiny-Chat-GGUF"
    And the openai client gets a 400 error with code "model_unhealthy" for "mlx-community/Broken-Truncated"

  Scenario: A prompt longer than the context is a 400, not a truncation
    # spec: SRV-CONTEXT
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyLlama-Chat-ctx64", "messages": [{"role": "user", "content": "one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten one two three four five six seven eight nine ten"}]}
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "context_length_exceeded"
