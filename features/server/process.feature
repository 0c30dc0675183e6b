Feature: mlxk serve runs supervised and stops cleanly
  The default supervisor runs the server in a child process, restarts it when it
  crashes, and on SIGTERM or SIGINT drains and exits with no orphan and the port freed.

  Scenario: A crashed server is restarted, and SIGTERM stops everything
    # spec: SRV-SUPERVISOR
    Given the standard fixture cache
    When I start "mlxk serve --log-json" as a server process
    And the server's child process is killed
    Then the server answers /health again from a new child
    When I send SIGTERM to the server process
    Then it exits with code 0 within 20 seconds
    And no child process is left and the port is free

  Scenario: --log-json logs one JSON line per request with its request id
    # spec: SRV-LOGS
    Given the standard fixture cache
    When I start "mlxk serve --no-supervise --log-json" as a server process
    And I GET "/v1/models" from it with the request id "req-42"
    And I send SIGINT to the server process
    Then it exits with code 0 within 20 seconds
    And its stderr has a JSON log line for "/v1/models" with request id "req-42" and status 200
