Feature: The OpenAI Responses API
  Coding agents and newer SDKs speak the Responses API: input items in, output items
  out. mlxk answers it from the engine Chat Completions uses (batching, prompt cache,
  reasoning split, tool calls, constrained decoding) and keeps no responses: a client
  sends the whole conversation each time.

  Background:
    Given a running server on the standard fixture cache

  Scenario: A text answer through the openai client's responses.create
    # spec: RESP-TEXT
    When the openai client creates a response from "mlx-community/TinyLlama-Chat-4bit" for "Hi"
    Then the response is completed with the output text "Hello! I am a tiny test model, happy to help."
    And the response's usage counts its input and output tokens as chat completions does

  Scenario: Instructions and message items make the same prompt as chat messages
    # spec: RESP-TEXT
    When the openai client sends instructions and message items to "mlx-community/TinyLlama-Chat-4bit"
    Then the response's input tokens equal the chat completion's prompt tokens for the same messages

  Scenario Outline: A streamed response follows the documented event order and reassembles into the unstreamed one
    # spec: RESP-STREAM
    When the openai client creates a response from "<model>" for "Hi"
    And the openai client streams the same response
    Then the events come in the documented order, numbered from 0
    And the streamed deltas and the completed response equal the unstreamed response

    Examples:
      | model                                |
      | mlx-community/TinyLlama-Chat-4bit    |
      | mlx-community/TinyQwen3-Think-4bit   |
      | mlx-community/tiny-gpt-oss-harmony   |

  Scenario: A reasoning model's thinking comes back as a reasoning item
    # spec: RESP-REASONING
    When the openai client creates a response from "mlx-community/TinyQwen3-Think-4bit" for "Hi"
    Then the output is a reasoning item "The user greets me so I answer briefly." then a message "Hi there, nice to meet you!"
    And the response counts its reasoning tokens

  Scenario: Reasoning effort reaches a template that takes it (chat's reasoning_effort too), and is refused by one that does not
    # spec: RESP-REASONING
    When the openai client asks "mlx-community/tiny-gpt-oss-harmony" for "Hi" with reasoning effort "low" and then "high"
    Then both are answered "Hello from the harmony model!" and the high-effort prompt says "Reasoning: high"
    When I POST to "/v1/responses":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "reasoning": {"effort": "high"}}
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "invalid_request"
    And the error names the parameter "reasoning.effort"

  Scenario Outline: A function call and its output, in two turns
    # spec: RESP-TOOLS
    When the openai client offers get_weather in a response from "<model>": "What is the weather?"
    Then the output is a function call to get_weather with {"city": "Paris"}
    When the openai client sends the function call and its output back
    Then the response is completed with the output text "It is sunny in Paris today."

    Examples:
      | model                                |
      | mlx-community/TinyQwen3-Tools-4bit   |
      | mlx-community/tiny-gpt-oss-tools     |
      | mlx-community/TinyMistral-Tools      |

  Scenario: A streamed function call sends its arguments as deltas
    # spec: RESP-STREAM
    When the openai client offers get_weather in a response from "mlx-community/TinyQwen3-Tools-Shy": "Hi" with tool_choice "required"
    And the openai client streams the same response
    Then the events come in the documented order, numbered from 0
    And the streamed deltas and the completed response equal the unstreamed response
    And the call's arguments arrived in several argument deltas

  Scenario: text.format json_schema gives JSON valid for its schema, even on a random-weight model
    # spec: RESP-FORMAT
    When the openai client asks "mlx-community/Tiny-Random-Llama" for a response in the nested schema
    Then the output text is JSON valid for the nested schema

  Scenario: LangChain with use_responses_api calls the tool and answers from its result
    # spec: RESP-AGENT-CLIENT
    When LangChain on the Responses API binds get_weather to "mlx-community/TinyQwen3-Tools-4bit" and asks "What is the weather?"
    Then LangChain gets a call to get_weather with {"city": "Paris"}
    And LangChain, given the tool's result, answers "It is sunny in Paris today."

  Scenario Outline: Bad input is a 400 in the OpenAI error shape, naming the parameter
    # spec: RESP-BAD-INPUT
    When I POST to "/v1/responses":
      """
      <body>
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "<code>"
    And the error names the parameter "<param>"
    And the server still answers a normal request

    Examples:
      | body                                                                                                                                             | code                  | param                 |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "previous_response_id": "resp_1"}                                                  | unsupported_parameter | previous_response_id  |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "store": true}                                                                     | unsupported_parameter | store                 |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": [{"type": "item_reference", "id": "msg_1"}]}                                              | unsupported_parameter | input[0]              |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": [{"type": "telepathy", "thought": "hi"}]}                                                 | unsupported_parameter | input[0]              |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": [{"type": "function_call_output", "call_id": "call_9", "output": "sunny"}]}                | invalid_request       | input[0].call_id      |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}                | unsupported_parameter | input[0].content[0]   |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "tools": [{"type": "web_search"}]}                                                  | unsupported_parameter | tools[0].type         |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "tool_choice": {"type": "function", "name": "nope"}}                                | invalid_request       | tool_choice           |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "text": {"format": {"type": "json_schema", "name": "x"}}}                           | invalid_request       | text.format           |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "max_output_tokens": 0}                                                            | invalid_request       | max_output_tokens     |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": []}                                                                                      | invalid_request       | input                 |

  Scenario: Fields at their default or off values are accepted
    # spec: RESP-BAD-INPUT
    When I POST to "/v1/responses":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "Hi", "store": false, "previous_response_id": null, "include": [], "tools": [], "tool_choice": "auto", "text": {"format": {"type": "text"}}, "truncation": "disabled", "background": false, "metadata": {}, "parallel_tool_calls": true, "reasoning": {"effort": null, "summary": "auto"}, "service_tier": "auto", "max_tool_calls": null, "top_logprobs": 0}
      """
    Then the HTTP status is 200
