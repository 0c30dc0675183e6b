Feature: POST /v1/chat/completions answers like OpenAI, with real token counts
  Clients written for OpenAI work unchanged: the official client gets the model's text,
  a truthful finish reason and usage counted from real tokens.

  Background:
    Given a running server on the standard fixture cache

  Scenario: The openai client gets the model's answer
    # spec: SRV-CHAT
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi there"
    Then the answer is "Hello! I am a tiny test model, happy to help."
    And the finish reason is "stop"
    And the usage counts the prompt's tokens by the model's own tokenizer and 13 more

  Scenario: A short name resolves like on the command line
    # spec: SRV-NAMES
    When the openai client asks "TinyLlama-Chat-8bit": "Hi"
    Then the answer is "Hello! I am a tiny test model, happy to help."

  Scenario: A token limit cuts the answer and says so
    # spec: SRV-FINISH-LENGTH
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi" with {"max_tokens": 3}
    Then the answer is "Hello! I"
    And the finish reason is "length"
    And the usage counts 11 prompt and 3 completion tokens
    And the usage counts the prompt's tokens by the model's own tokenizer and 3 more

  Scenario: max_completion_tokens is honoured like max_tokens
    # spec: SRV-FINISH-LENGTH
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi" with {"max_completion_tokens": 2}
    Then the answer is "Hello!"
    And the finish reason is "length"

  Scenario: A stop string ends the answer before it, with finish reason stop
    # spec: SRV-STOP
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi" with {"stop": ["tiny", "zzz"]}
    Then the answer is "Hello! I am a "
    And the finish reason is "stop"

  Scenario: Reasoning goes to its own field, the answer to content
    # spec: SRV-REASONING
    When the openai client asks "mlx-community/TinyQwen3-Think-4bit": "Hi"
    Then the answer is "Hi there, nice to meet you!"
    And the reasoning is "The user greets me so I answer briefly."

  Scenario: gpt-oss harmony channels are split the same way
    # spec: SRV-REASONING
    When the openai client asks "mlx-community/tiny-gpt-oss-harmony": "Hi"
    Then the answer is "Hello from the harmony model!"
    And the reasoning is "The user says hello, so I reply kindly."

  Scenario: A request can hide the reasoning
    # spec: SRV-REASONING-HIDE
    When the openai client asks "mlx-community/TinyQwen3-Think-4bit": "Hi" with {"extra_body": {"reasoning_format": "hidden"}}
    Then the answer is "Hi there, nice to meet you!"
    And the message has no reasoning

  Scenario: Streaming gives the same text as the unstreamed answer
    # spec: SRV-SSE
    When the openai client streams "mlx-community/TinyQwen3-Think-4bit": "Hi"
    Then the streamed answer is "Hi there, nice to meet you!" and the streamed reasoning is "The user greets me so I answer briefly."

  Scenario: The server hot-swaps models between requests
    # spec: SRV-HOTSWAP
    When the openai client asks "mlx-community/TinyLlama-Base": "one" with {"max_tokens": 2}
    And the openai client asks "mlx-community/tiny-gpt-oss-harmony": "Hi"
    Then the answer is "Hello from the harmony model!"
    When I GET "/health"
    Then the JSON body field "model" is "mlx-community/tiny-gpt-oss-harmony"

  Scenario: A client that hangs up stops its generation and the server stays healthy
    # spec: SRV-DISCONNECT
    When I start streaming "mlx-community/TinyLlama-Base" and hang up after 3 chunks
    Then the server stops generating for the client that left
    And it generated far fewer tokens than the 2000 asked for
    And the server still answers a normal request

  Scenario: Without max_tokens a request may use at most half the context
    # spec: SRV-DEFAULT-LIMIT
    When the openai client completes "mlx-community/TinyLlama-Base-ctx64": "Count: one" with {}
    Then the finish reason is "length"
    And the completion used 32 tokens

  Scenario: An explicit max_tokens is capped to what fits in the context
    # spec: SRV-DEFAULT-LIMIT
    When the openai client completes "mlx-community/TinyLlama-Base-ctx64": "Count: one" with {"max_tokens": 5000}
    Then the finish reason is "length"
    And prompt and completion together fill the 64-token context

  Scenario: Requests for two models at once are each answered by their own model
    # spec: SRV-HOTSWAP
    When 6 clients ask "mlx-community/TinyLlama-Chat-4bit" and "mlx-community/TinyQwen3-Think-4bit" in turn, all at once
    Then every client got its own model's answer

  Scenario: Message content may be a list of text parts
    # spec: SRV-CONTENT-PARTS
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit" with the content parts "I like" and " banana"
    Then the answer is "You mentioned the fruit earlier."

  Scenario: serve --max-tokens is the default of requests that set none, and only theirs
    # spec: SRV-DEFAULT-LIMIT
    Given a running server whose default max_tokens is 5
    When the openai client completes "mlx-community/TinyLlama-Base": "Count: one" with {}
    Then the completion used 5 tokens
    When the openai client completes "mlx-community/TinyLlama-Base": "Count: one" with {"max_tokens": 3}
    Then the completion used 3 tokens
