Feature: Agents call tools and get structured output from a served model
  Tools go to the model through its own chat template; the calls it writes come back
  as OpenAI tool calls, never as text. A forced call, or a JSON answer, is enforced by
  constrained decoding, so it is always there and always valid.

  Background:
    Given a running server on the standard fixture cache

  Scenario Outline: A tool call and its result, in two turns, in each family's format
    # spec: TOOLS-CALL
    When the openai client offers get_weather to "<model>": "What is the weather?"
    Then the answer is a call to get_weather with {"city": "Paris"} and finish reason "tool_calls"
    And the message content is empty
    When the openai client sends the tool's result back
    Then the answer is "It is sunny in Paris today."
    And no tool is called

    Examples:
      | model                                |
      | mlx-community/TinyQwen3-Tools-4bit   |
      | mlx-community/TinyLlama3-Tools       |
      | mlx-community/TinyMistral-Tools      |
      | mlx-community/tiny-gpt-oss-tools     |

  Scenario Outline: Streamed tool calls reassemble into the unstreamed ones
    # spec: TOOLS-STREAM
    When the openai client offers get_weather to "<model>": "What is the weather?"
    And the openai client streams the same request
    Then the streamed tool calls equal the unstreamed ones, name first
    And the stream's finish reason is "tool_calls"

    Examples:
      | model                                   |
      | mlx-community/TinyQwen3-Tools-Parallel  |
      | mlx-community/tiny-gpt-oss-tools        |
      | mlx-community/TinyMistral-Tools         |

  Scenario Outline: A call written token by token streams its arguments in pieces
    # spec: TOOLS-STREAM
    When the openai client offers get_weather to "<model>": "Hi" with tool_choice "required"
    And the openai client streams the same request
    Then the streamed tool calls equal the unstreamed ones, name first
    And the call's arguments arrived in several pieces whose text is the unstreamed arguments

    Examples:
      | model                               |
      | mlx-community/TinyQwen3-Tools-Shy   |
      | mlx-community/TinyLlama3-Tools      |
      | mlx-community/tiny-gpt-oss-tools    |

  Scenario: Several calls at once, then one answer from all their results
    # spec: TOOLS-PARALLEL
    When the openai client offers get_weather to "mlx-community/TinyQwen3-Tools-Parallel": "Weather?"
    Then the message has 2 tool calls, for "Paris" and "London"
    When the openai client sends the tool's result back
    Then the answer is "Sunny in Paris, rainy over London."

  Scenario: parallel_tool_calls false keeps one call
    # spec: TOOLS-PARALLEL
    When the openai client offers get_weather to "mlx-community/TinyQwen3-Tools-Parallel": "Weather?" with parallel_tool_calls false
    Then the message has 1 tool calls, for "Paris"

  Scenario: tool_choice "none" gets an answer and no call
    # spec: TOOLS-CHOICE
    When the openai client offers get_weather to "mlx-community/TinyQwen3-Tools-4bit": "Weather?" with tool_choice "none"
    Then the answer is "Hello! I am a tiny test model, happy to help."
    And no tool is called

  Scenario: tool_choice "required" makes a model that would not call call, with valid arguments
    # spec: TOOLS-CHOICE
    When the openai client offers get_weather to "mlx-community/TinyQwen3-Tools-Shy": "Hi" with tool_choice "required"
    Then the message has 1 tool calls whose arguments are valid for get_weather
    And the finish reason is "tool_calls"

  Scenario: A named tool_choice calls that function
    # spec: TOOLS-CHOICE
    When the openai client offers get_weather to "mlx-community/TinyQwen3-Tools-Shy": "Hi" with tool_choice get_weather
    Then the message has 1 tool calls whose arguments are valid for get_weather

  Scenario: A model whose template cannot take tools says so
    # spec: TOOLS-BAD-INPUT
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}]}
      """
    Then the HTTP status is 400
    And the error names the parameter "tools"

  Scenario: LangChain's bind_tools drives the whole flow, streamed and not
    # spec: TOOLS-AGENT-CLIENT
    When LangChain binds get_weather to "mlx-community/TinyQwen3-Tools-4bit" and asks "What is the weather?"
    Then LangChain gets a call to get_weather with {"city": "Paris"}
    And LangChain's streamed call is the same
    And LangChain, given the tool's result, answers "It is sunny in Paris today."

  Scenario Outline: A JSON answer follows its schema, alone and beside free requests
    # spec: STRUCTURED-OUTPUT
    When 3 free requests and one asking for a <kind> run together on "mlx-community/TinyLlama-Chat-4bit"
    Then the constrained answer is JSON valid for its schema
    And each free answer equals its answer alone

    Examples:
      | kind               |
      | nested schema      |
      | schema with enums  |
