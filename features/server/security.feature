Feature: API key and CORS

  Scenario: With --api-key every /v1 route needs the bearer key
    # spec: SRV-AUTH
    Given a running server with API key "s3cret"
    When I GET "/v1/models"
    Then the HTTP status is 401
    And the error has the OpenAI shape with code "unauthorized"
    When I GET "/v1/models" with the header "Authorization: Bearer s3cret"
    Then the HTTP status is 200
    When I GET "/health"
    Then the HTTP status is 200

  Scenario: Only listed origins get CORS headers
    # spec: SRV-CORS
    Given a running server allowing the origin "http://localhost:3000"
    When I GET "/v1/models" with the header "Origin: http://localhost:3000"
    Then the response header "access-control-allow-origin" is "http://localhost:3000"
    When I GET "/v1/models" with the header "Origin: http://evil.example"
    Then the response has no header "access-control-allow-origin"

  Scenario Outline: The bearer scheme is case-insensitive, and x-api-key works too
    # spec: SRV-AUTH
    Given a running server with API key "s3cret"
    When I GET "/v1/models" with the header "<header>"
    Then the HTTP status is <status>

    Examples:
      | header                       | status |
      | Authorization: bearer s3cret | 200    |
      | Authorization: BEARER s3cret | 200    |
      | x-api-key: s3cret            | 200    |
      | Authorization: Basic s3cret  | 401    |
      | Authorization: Bearer s3cre  | 401    |

  Scenario Outline: A Host header naming another site is refused (DNS rebinding)
    # spec: SRV-HOST
    Given a running server on the standard fixture cache
    When I GET "/v1/models" with the header "Host: <host>"
    Then the HTTP status is <status>

    Examples:
      | host                   | status |
      | evil.example           | 400    |
      | evil.example:8000      | 400    |
      | localhost:8000         | 200    |
      | LOCALHOST              | 200    |
      | 127.0.0.1:8000         | 200    |
      | [::1]:8000             | 200    |
      | 192.168.1.20:8000      | 200    |
      | app.localhost          | 200    |

  Scenario: --allowed-host adds a name the server answers to
    # spec: SRV-HOST
    Given a running server allowing the host "models.lan"
    When I GET "/v1/models" with the header "Host: models.lan:8000"
    Then the HTTP status is 200
    When I GET "/v1/models" with the header "Host: evil.example"
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "host_not_allowed"

  Scenario: Nothing the server serves loads from outside, and its HTTP answers are complete
    # spec: SRV-HTTP-HYGIENE
    Given a running server on the standard fixture cache
    When I GET "/docs"
    Then the HTTP status is 404
    When I GET "/v1/chat/completions"
    Then the HTTP status is 405
    And the response header "allow" is "POST"
    When I GET "/openapi.json"
    Then the OpenAPI declares "text/event-stream" for "/v1/chat/completions" and "/v1/completions"
    When I GET "/v1/models/<300 a>"
    Then the HTTP status is 400
    And the error has the OpenAI shape with code "invalid_request"
