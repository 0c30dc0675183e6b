Feature: GET /v1/models and /health describe what the server can serve

  Background:
    Given a running server on the standard fixture cache

  Scenario: Only runnable models are listed, with their context length
    # spec: SRV-MODELS
    When I GET "/v1/models"
    Then the HTTP status is 200
    And the model list has "mlx-community/TinyLlama-Chat-4bit" with context length 4096
    And the model list has "acme/private-tiny-chat" with context length 4096
    And the model list does not have "TheBloke/Tiny-Chat-GGUF"
    And the model list does not have "mlx-community/Broken-Truncated"

  Scenario: One model can be looked up by id
    # spec: SRV-MODELS
    When I GET "/v1/models/mlx-community/TinyQwen3-Think-4bit"
    Then the HTTP status is 200
    And the JSON body field "capabilities" is "['text-generation', 'chat', 'reasoning']"

  Scenario: /health reports the version and the state
    # spec: SRV-HEALTH
    When I GET "/health"
    Then the HTTP status is 200
    And the JSON body field "status" is "ok"
    And the JSON body field "version" is mlxk's own version
    And the JSON body field "state" is one of "idle, ready"
    And the JSON body field "worker_restarts" is "0"

  Scenario: Unknown routes are OpenAI-shaped 404s
    # spec: SRV-BAD-INPUT
    When I GET "/v1/nothing-here"
    Then the HTTP status is 404
    And the error has the OpenAI shape with code "not_found"

  Scenario: Several clients listing the models at once all get the list
    # spec: SRV-MODELS
    Given a running server on the standard fixture cache
    Then 3 clients asking GET "/v1/models" at once all get 200 with the same list
