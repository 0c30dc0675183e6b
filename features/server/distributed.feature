Feature: One model sharded over a group of ranks (serve --hosts, run --hosts)
  mlxk starts the ranks through mlx.launch with MLX's ring backend; every rank loads
  only its shard, rank 0 serves the same API and the others follow each of its steps.
  Here every host is 127.0.0.1 (or localhost): real processes, real collectives.

  Background:
    Given the distributed test models

  @slow
  Scenario: Two ranks with tensor sharding answer as one process does
    # spec: DIST-SERVE
    When I start "mlxk serve --model mlxk-bench/Synthetic-shards-float32" over 2 local ranks
    Then the group's answers equal a single process's, streamed and not, for 1 and 4 clients
    And a seeded sampled answer and a JSON-schema answer equal a single process's
    And /health shows a group of 2 ranks with "tensor" sharding
    And each rank holds at most 0.6 of the single process's model memory
    And each local rank runs on its own share of the cores
    And /v1/models shows the group on the model's card
    And /metrics and the timings count the group's collective time

  @slow
  Scenario: Two ranks with pipeline sharding answer as one process does
    # spec: DIST-PIPELINE
    When I start "mlxk serve --model mlxk-bench/Synthetic-shards-qwen2-float32 --sharding pipeline" over 2 local ranks
    Then the group's answers equal a single process's, streamed and not, for 1 and 4 clients
    And /health shows a group of 2 ranks with "pipeline" sharding
    And each rank holds at most 0.6 of the single process's model memory

  @slow
  Scenario: Four ranks with tensor sharding answer as one process does
    # spec: DIST-FOUR-RANKS
    When I start "mlxk serve --model mlxk-bench/Synthetic-shards-float32" over 4 local ranks
    Then the group's answers equal a single process's for 4 clients at once, streamed
    And /health shows a group of 4 ranks with "tensor" sharding
    And each rank holds at most 0.35 of the single process's model memory

  @slow
  Scenario: A rank killed mid-stream ends the stream with an error, and the group comes back
    # spec: DIST-FAULT
    When I start "mlxk serve --model mlxk-bench/Synthetic-shards-float32" over 2 local ranks
    And a long stream is running when rank 1 is killed
    Then the stream ends with a group_unavailable error event and [DONE]
    And /health answers 503 "degraded" while the group is down
    And the group answers again as a single process does, from new ranks
    And no process of the old group is left
    When I send SIGTERM to the server process
    Then it exits with code 0 within 20 seconds
    And no process of the group is left

  @slow
  Scenario: A rank that stops answering ends the group after --group-timeout
    # spec: DIST-FAULT
    When I start "mlxk serve --model mlxk-bench/Synthetic-shards-float32 --group-timeout 3" over 2 local ranks
    And a long stream is running when rank 1 is stopped
    Then the stream ends with a group_unavailable error event and [DONE]
    And the group answers again as a single process does, from new ranks
    And no process of the old group is left

  Scenario: run --hosts answers as run does
    # spec: DIST-RUN
    When I run "mlxk run mlxk-bench/Synthetic-shards-float32 'Tell me a story' --max-tokens 16" on one process and over 2 local ranks
    Then both print the same answer and exit 0

  Scenario Outline: A group that cannot start is refused in one line, before any rank starts
    # spec: DIST-PREFLIGHT
    When I run "mlxk <command> <model> --hosts <hostfile>" as a separate process with a 60 second limit
    Then the exit code is <code>
    And the error is one line on stderr without a traceback
    And the error names "<named>"
    And no process of the group is left

    Examples:
      | command        | model                                  | hostfile             | code | named                              |
      | serve --model  | mlxk-bench/No-Such-Model               | <two local hosts>    | 1    | No-Such-Model                      |
      | run            | mlxk-bench/Synthetic-tiny-phi3-float32 hi | <two local hosts> | 1 | phi3                          |
      | serve --model  | mlxk-bench/Synthetic-shards-float32    | <an unreachable host> | 1    | host 127.0.0.2 (rank 1): unreachable |
      | run            | mlxk-bench/Synthetic-shards-float32 hi | <three local hosts> | 2 | does not divide among 3 ranks |
      | serve --model  | mlxk-bench/Synthetic-shards-float32    | <no such file>       | 2    | cannot read the hostfile           |

  Scenario: health --hosts checks the model on every host
    # spec: DIST-HEALTH
    When I run "mlxk health mlxk-bench/Synthetic-shards-float32 --hosts <two local hosts> --json" as a separate process with a 60 second limit
    Then the exit code is 0
    And the JSON data lists 2 healthy hosts and a "tensor" group
    When I run "mlxk health mlxk-bench/Synthetic-shards-float32 --hosts <an unreachable host>" as a separate process with a 60 second limit
    Then the exit code is 1
    And stdout contains "unhealthy mlxk-bench/Synthetic-shards-float32 on 127.0.0.2 (rank 1)"
