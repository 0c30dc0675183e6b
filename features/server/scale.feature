Feature: Many clients, one model: batching, prompt cache, limits and memory
  Requests for the loaded model are decoded together; shared prefixes are not
  recomputed; too much work is refused rather than queued forever; the model is freed
  when idle; and a model that cannot fit is refused before loading.

  Scenario: Concurrent requests in one batch get exactly their unbatched answers
    # spec: SCALE-BATCH
    Given a running server on the standard fixture cache
    When 4 clients complete "mlx-community/TinyLlama-Base" at once with the prompts "one|three|five|seven" and max tokens "9|5|3|7"
    Then every completion equals the unbatched run of the same prompt

  Scenario: Requests arriving close together at an idle server are prefilled together
    # spec: SCALE-BATCH-WINDOW
    Given a running server with "mlx-community/TinyLlama-Base" loaded and a batch window of 500 ms
    When one client streams "mlx-community/TinyLlama-Base" and a second asks 200 ms later
    Then the first client's first token came only after the second had asked
    And every completion equals the unbatched run of the same prompt

  Scenario: With the batch window off, a request to an idle server starts at once
    # spec: SCALE-BATCH-WINDOW
    Given a running server with "mlx-community/TinyLlama-Base" loaded and a batch window of 0 ms
    When one client streams "mlx-community/TinyLlama-Base" and a second asks 1000 ms later
    Then the first client's first token came before the second asked
    And every completion equals the unbatched run of the same prompt

  Scenario: A client leaving mid-batch does not disturb the others
    # spec: SCALE-BATCH-FAULTS
    Given a running server on the standard fixture cache
    When 3 clients complete "mlx-community/TinyLlama-Base" at once while a fourth hangs up after 3 chunks
    Then every completion equals the unbatched run of the same prompt
    And the server stops generating for the client that left

  Scenario: A request that fails inside a running batch does not disturb the others
    # spec: SCALE-BATCH-FAULTS
    Given a running server on the standard fixture cache
    When 3 clients stream "mlx-community/TinyLlama-Base" and, once all have started, a fourth sends it a prompt longer than its context
    Then the fourth client got a 400 with code "context_length_exceeded" while the others were still streaming
    And every completion equals the unbatched run of the same prompt

  Scenario: A swap requested during a batch waits for the batch, then answers with its own model
    # spec: SCALE-BATCH-FAULTS, SRV-HOTSWAP
    Given a running server on the standard fixture cache
    When 3 clients stream "mlx-community/TinyLlama-Base" and, once all have started, a fourth asks "mlx-community/TinyLlama-Chat-4bit" for "hi"
    Then the fourth client got "Hello! I am a tiny test model, happy to help." only after the others had finished
    And every completion equals the unbatched run of the same prompt

  Scenario: The second turn of a chat reuses the first turn's KV cache
    # spec: SCALE-PROMPT-CACHE
    Given a running server on the standard fixture cache
    When the openai client has a two-turn chat with "mlx-community/TinyLlama-Chat-8bit"
    Then the second turn reports cached prompt tokens covering the first turn

  Scenario: Beyond the queue bound a request gets a 503 with Retry-After
    # spec: SCALE-QUEUE
    Given a running server with max concurrency 1 and no queue
    When one client streams "mlx-community/TinyLlama-Base" with max tokens 3000 and another asks at the same time
    Then the other client gets HTTP 503 with a Retry-After header and code "server_busy"

  Scenario: An idle model is freed and reloaded on the next request
    # spec: SCALE-IDLE-UNLOAD
    Given a running server that unloads after 0.5 seconds idle
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi"
    Then /health shows "mlx-community/TinyLlama-Chat-4bit" loaded
    And within 5 seconds /health shows no model loaded
    When the openai client asks "mlx-community/TinyLlama-Chat-4bit": "Hi"
    Then the answer is "Hello! I am a tiny test model, happy to help."

  Scenario: A model that cannot fit is refused with a 503 before loading
    # spec: SCALE-MEMORY
    Given a running server limited to 100000 bytes of model memory
    Then the openai client gets a 503 error with code "insufficient_memory" for "mlx-community/TinyLlama-Chat-4bit"
    When I GET "/health"
    Then the JSON body field "model" is "None"

  Scenario: Responses carry timings and /metrics counts the work
    # spec: SCALE-METRICS
    Given a running server with metrics on
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/TinyLlama-Chat-4bit", "messages": [{"role": "user", "content": "Hi"}]}
      """
    Then the HTTP status is 200
    And the response has timings with a positive decode speed
    When I GET "/metrics"
    Then the metrics report 1 completed request and 13 completion tokens
