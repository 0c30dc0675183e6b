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
