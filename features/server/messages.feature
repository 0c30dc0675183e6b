Feature: The Anthropic Messages API
  Claude-style coding agents send Anthropic's Messages API to their base URL. mlxk
  answers it from the engine Chat Completions uses, with Anthropic's content blocks,
  stop reasons, usage, event stream and error shape.

  Background:
    Given a running server on the standard fixture cache

  Scenario: A text answer through the anthropic client
    # spec: MSG-TEXT
    When the anthropic client asks "mlx-community/TinyLlama-Chat-4bit" for "Hi" with max_tokens 100
    Then the message is one text block "Hello! I am a tiny test model, happy to help." ending with "end_turn"
    And the message's usage counts its input as chat completions counts its prompt

  Scenario: A system prompt in blocks is the same prompt as a system message
    # spec: MSG-TEXT
    When the anthropic client sends a system prompt in two text blocks to "mlx-community/TinyLlama-Chat-4bit"
    Then the message's input tokens equal the chat completion's prompt tokens for the same messages

  Scenario Outline: messages.stream follows Anthropic's event sequence and reassembles into the unstreamed message
    # spec: MSG-STREAM
    When the anthropic client asks "<model>" for "Hi" with max_tokens 100
    And the anthropic client streams the same message
    Then the stream's events follow Anthropic's sequence
    And the streamed message equals the unstreamed one

    Examples:
      | model                                |
      | mlx-community/TinyLlama-Chat-4bit    |
      | mlx-community/TinyQwen3-Think-4bit   |
      | mlx-community/TinyQwen3-Tools-4bit   |

  Scenario: A reasoning model's thinking comes back as a thinking block, and not when thinking is off
    # spec: MSG-THINKING
    When the anthropic client asks "mlx-community/TinyQwen3-Think-4bit" for "Hi" with thinking enabled
    Then the message is a thinking block "The user greets me so I answer briefly." then a text block "Hi there, nice to meet you!"
    When the anthropic client asks "mlx-community/TinyQwen3-Think-4bit" for "Hi" with thinking disabled
    Then the message is one text block "Hi there, nice to meet you!" ending with "end_turn"

  Scenario Outline: A tool_use and its tool_result, in two turns
    # spec: MSG-TOOLS
    When the anthropic client offers get_weather to "<model>": "What is the weather?"
    Then the message ends with "tool_use" and calls get_weather with {"city": "Paris"}
    When the anthropic client sends the tool_use and its tool_result back
    Then the message is one text block "It is sunny in Paris today." ending with "end_turn"

    Examples:
      | model                                |
      | mlx-community/TinyQwen3-Tools-4bit   |
      | mlx-community/TinyLlama3-Tools       |
      | mlx-community/tiny-gpt-oss-tools     |

  Scenario: A forced tool call streams its input as JSON deltas
    # spec: MSG-STREAM
    When the anthropic client offers get_weather to "mlx-community/TinyQwen3-Tools-Shy": "Hi" with tool_choice any
    And the anthropic client streams the same message
    Then the stream's events follow Anthropic's sequence
    And the streamed message equals the unstreamed one
    And the tool input arrived in several input_json_delta events

  Scenario: stop_sequences and max_tokens give their stop reasons
    # spec: MSG-STOP
    When the anthropic client asks "mlx-community/TinyLlama-Chat-4bit" for "Hi" with stop sequence "tiny"
    Then the message is one text block "Hello! I am a " ending with "stop_sequence"
    And the message's stop_sequence is "tiny"
    When the anthropic client asks "mlx-community/TinyLlama-Chat-4bit" for "Hi" with max_tokens 3
    Then the message ends with "max_tokens" after 3 output tokens

  Scenario: output_config's JSON schema is enforced, even on a random-weight model
    # spec: MSG-FORMAT
    When the anthropic client asks "mlx-community/Tiny-Random-Llama" for a message in the nested schema
    Then the message's text is JSON valid for the nested schema

  Scenario: count_tokens counts what the message's prompt is
    # spec: MSG-COUNT
    When the anthropic client counts the tokens of "What is the weather?" with get_weather for "mlx-community/TinyQwen3-Tools-4bit"
    Then the count equals the input tokens the same message uses

  Scenario: With --api-key, x-api-key is accepted and a wrong key is refused in Anthropic's shape
    # spec: MSG-AUTH
    Given a running server with API key "sesame"
    Then the anthropic client with key "sesame" is answered
    And the anthropic client with key "wrong" gets a 401 authentication_error

  Scenario Outline: Bad input is a 400 in Anthropic's error shape
    # spec: MSG-BAD-INPUT
    When I POST to "/v1/messages":
      """
      <body>
      """
    Then the HTTP status is <status>
    And the error has Anthropic's shape with type "<type>" mentioning "<words>"
    And the server still answers a normal request

    Examples:
      | body                                                                                                                                                                                                                                                   | status | type                  | words                  |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "Hi"}]}                                                                                                                                                       | 400    | invalid_request_error | max_tokens             |
      | {"model": "mlx-community/TinyQwen3-Tools-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}]}                                                                   | 400    | invalid_request_error | no earlier tool_use    |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}]}                                                                                 | 400    | invalid_request_error | 'image' blocks         |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}                                                                   | 400    | invalid_request_error | custom tools only      |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}], "temperature": 1.5}                                                                                                                  | 400    | invalid_request_error | temperature            |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}], "thinking": {"type": "enabled", "budget_tokens": 2048}}                                                                              | 400    | invalid_request_error | less than max_tokens   |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}], "top_k": 5}                                                                                                                           | 400    | invalid_request_error | top_k                  |
      | {"model": "mlx-community/No-Such-Model", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}                                                                                                                                            | 404    | not_found_error       | No-Such-Model          |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "max_tokens": 50, "messages": []}                                                                                                                                                                       | 400    | invalid_request_error | messages               |

  Scenario: Blocks clients replay are accepted: cache_control, an earlier thinking block, a tool_result's is_error
    # spec: MSG-TOOLS
    When I POST to "/v1/messages":
      """
      {"model": "mlx-community/TinyQwen3-Tools-4bit", "max_tokens": 60, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}], "tools": [{"name": "get_weather", "description": "The weather in a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}], "tool_choice": {"type": "auto"}, "metadata": {"user_id": "u1"}, "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?", "cache_control": {"type": "ephemeral"}}]}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "I should call it.", "signature": "x"}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}], "is_error": false}]}]}
      """
    Then the HTTP status is 200
    And the message's text is "It is sunny in Paris today."

  Scenario: Thinking on or off reaches a template with an enable_thinking switch
    # spec: MSG-THINKING
    When the anthropic client counts the tokens of "Hi" for "mlx-community/TinyQwen3-Think-Open" with thinking enabled and disabled
    Then each count is the prompt the template renders with enable_thinking on and off
