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

  Scenario Outline: An error no restart can heal ends serve at once, in one line
    # spec: SRV-SUPERVISOR-FATAL
    Given the standard fixture cache
    And <setup>
    When I run "mlxk serve <options>" as a separate process with a 30 second limit
    Then the exit code is <code>
    And the error is one line on stderr without a traceback
    And stderr contains "<says>"

    Examples:
      | setup                            | options                          | code | says                    |
      | nothing else                     | --model nobody/nothing           | 1    | no cached model matches |
      | nothing else                     | --no-supervise --model nobody/x  | 1    | no cached model matches |
      | another process holds a port     | --port <held>                    | 1    | cannot listen on        |
      | an empty API key file            | --api-key-file <keyfile>         | 2    | is empty                |
      | nothing else                     | --port 70000                     | 2    | not between 1 and 65535 |
      | nothing else                     | --max-tokens -1                  | 2    | not 1 or more           |
      | nothing else                     | --prompt-cache lots              | 2    | is not a size           |
      | nothing else                     | --model-dir /nonexistent/models  | 2    | is not a directory      |
      | nothing else                     | --model ./no-such-folder         | 1    | no model folder at      |

  Scenario: With --json an unhealable start error is one JSON envelope
    # spec: SRV-SUPERVISOR-FATAL
    Given the standard fixture cache
    When I run "mlxk serve --model nobody/nothing --json" as a separate process with a 30 second limit
    Then the exit code is 1
    And the output is a valid JSON envelope for "serve"
    And the JSON error type is "model_not_found"

  Scenario: The server process ends when its supervisor is killed
    # spec: SRV-SUPERVISOR
    Given the standard fixture cache
    When I start "mlxk serve" as a server process
    And I send SIGKILL to the server process
    Then the server's child process is gone within 15 seconds and the port is free

  Scenario: A queue.py in the directory serve starts in is never imported
    # spec: SRV-SUPERVISOR
    Given the standard fixture cache
    And a directory holding a queue.py that leaves a mark when imported
    When I start "mlxk serve" as a server process in that directory
    Then the server answers a chat request
    And the mark is not there

  Scenario Outline: The API key never appears on a command line
    # spec: SRV-AUTH
    Given the standard fixture cache
    And <key source>
    When I start "mlxk serve <options>" as a server process
    Then no process's command line holds the key "k-123"
    And GET "/v1/models" answers 401 without the key and 200 with "k-123"

    Examples:
      | key source                                   | options                     |
      | MLXK_API_KEY is "k-123" in the environment   |                             |
      | an API key file holding "k-123"              | --api-key-file <keyfile>    |

  @slow
  Scenario: The server starts and stops cleanly again and again
    # spec: SRV-SUPERVISOR
    Given the standard fixture cache
    Then "mlxk serve --no-supervise" starts, answers /health and exits 0 on SIGINT, 3 times in a row

  Scenario Outline: With --json a stopped server says so in one envelope
    # spec: SRV-SUPERVISOR-FATAL
    Given the standard fixture cache
    When I start "mlxk serve <mode> --json" as a server process, keeping its output
    And I send SIGTERM to the server process
    Then it exits with code 0 within 20 seconds
    And its output is one JSON envelope for "serve" saying it stopped on a signal

    Examples:
      | mode           |
      | --log-json     |
      | --no-supervise |

  Scenario: A swap frees the old model before it loads the new one
    # spec: SRV-HOTSWAP
    Given the standard fixture cache
    When I start "mlxk serve --no-supervise --log-json" as a server process
    And it answers a request for "mlx-community/TinyLlama-Base", then one for "mlx-community/TinyLlama-Chat-4bit"
    Then its log unloads "mlx-community/TinyLlama-Base" before it loads "mlx-community/TinyLlama-Chat-4bit"
