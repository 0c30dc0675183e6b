Feature: One bad request, client or signal never takes the server down
  A request fails alone, with a 4xx when the client or the model's template refused it;
  a client that leaves stops its generation; slow or oversized uploads are cut off; and
  the process stops cleanly, with every stream ended properly.

  Scenario Outline: A message the tokenizer or the template cannot take fails alone
    # spec: SRV-REQUEST-FAULTS
    Given a running server with a model whose chat template refuses conversations that start with the assistant
    When I POST to "<path>":
      """
      <body>
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "invalid_request"
    And the error message contains "<says>"
    And the server still answers a normal request
    And /health says "ok" with no worker restart

    Examples:
      | path                 | body                                                                                                             | says                   |
      | /v1/chat/completions | {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "\ud800x"}]}            | unpaired surrogate     |
      | /v1/completions      | {"model": "mlx-community/TinyLlama-Base", "prompt": "a\udfff"}                                                  | unicode                |
      | /v1/chat/completions | {"model": "acme/Strict-Chat", "messages": [{"role": "assistant", "content": "hi"}, {"role": "user", "content": "x"}]} | chat template refused |

  Scenario: A prompt whose length alone cannot fit the context is refused before it is tokenized
    # spec: SRV-CONTEXT
    Given a running server on the standard fixture cache
    When I POST a 3 MB prompt to "mlx-community/TinyLlama-Chat-ctx64"
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "context_length_exceeded"
    And the error message contains "at least"
    And the server still answers a normal request

  Scenario Outline: A JSON field of the wrong type is refused, not coerced
    # spec: SRV-BAD-INPUT
    Given a running server on the standard fixture cache
    When I POST to "/v1/completions":
      """
      {"model": "mlx-community/TinyLlama-Base", "prompt": "one", <field>}
      """
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "invalid_request"

    Examples:
      | field               |
      | "max_tokens": true  |
      | "max_tokens": 2.5   |
      | "temperature": true |
      | "stream": 1         |
      | "n": true           |

  Scenario: If the model worker dies anyway, /health says so and the server recovers
    # spec: SRV-REQUEST-FAULTS
    Given a running server on the standard fixture cache whose model worker is made to die once
    When a request reaches the model worker as it dies
    Then the request that was running gets a 500 in the OpenAI shape
    And /health says "degraded" with 1 worker restart
    And the server still answers a normal request

  Scenario: Clients that hang up before a whole answer arrives stop their generation
    # spec: SRV-DISCONNECT
    Given a running server on the standard fixture cache
    When 4 clients ask "mlx-community/TinyLlama-Base" for 2000 tokens without streaming and hang up after 0.5 seconds
    Then the server stops generating for the clients that left, far below the 8000 tokens asked for
    And the server still answers a normal request

  Scenario: A chunked body over the limit is cut off as it arrives
    # spec: SRV-BODY-LIMIT
    Given the standard fixture cache
    When I start "mlxk serve --no-supervise" as a server process
    And I send a 50 MB chunked body to "/v1/chat/completions"
    Then the upload was refused with a 413 or cut off
    And the server process grew by less than 100 MB
    And the server answers a chat request

  @slow
  Scenario: A flood of half-sent headers leaves /health reachable
    # spec: SRV-SLOW-CLIENTS
    Given the standard fixture cache
    When I start "mlxk serve --no-supervise" as a server process allowed 4096 open files
    And 2100 clients connect and send half a request header
    Then /health answers within 10 seconds while they wait
    And the server closes connections whose headers do not arrive within 10 seconds

  Scenario: SIGTERM during a stream ends the stream properly, then the process
    # spec: SRV-SHUTDOWN
    Given the standard fixture cache
    When I start "mlxk serve --no-supervise" as a server process
    And I start a long stream from it and send SIGTERM after 3 chunks
    Then the stream ended with an error event and "data: [DONE]" and a complete chunked body
    And it exits with code 0 within 20 seconds

  Scenario: A message's name reaches the model's chat template
    # spec: SRV-MESSAGE-NAME
    Given a running server with a model whose chat template refuses conversations that start with the assistant
    When the openai client, as "alice", asks "acme/Named-Chat": "Hi there"
    Then the prompt counted more tokens than the same message without a name
