Feature: The edges of the everyday commands behave as 1.x's tests expect
  Missing arguments, empty caches and odd layouts each get a clear answer; what a user
  types reaches the model unharmed; two runs at once do not disturb each other.

  Scenario Outline: A missing argument is a usage error (exit 2), in JSON too
    # spec: FND-MISSING-ARG
    Given an empty HF cache
    When I run "<command>"
    Then the exit code is 2
    And the JSON error type is "usage_error"

    Examples:
      | command              |
      | mlxk show --json     |
      | mlxk rm --json       |
      | mlxk pull --json     |
      | mlxk run --json      |

  Scenario: health on an empty cache reports nothing and succeeds, the same every time
    # spec: CACHE-HEALTH-EMPTY
    Given an empty HF cache
    When I run "mlxk health --json"
    Then the exit code is 0
    And the JSON field "data.summary.total" is 0
    And running it again prints exactly the same

  Scenario: health output is the same from one run to the next
    # spec: CACHE-HEALTH-STABLE
    Given the standard fixture cache
    When I run "mlxk health"
    Then running it again prints exactly the same

  Scenario: An empty lock directory does not stop a removal
    # spec: CACHE-RM-WHOLE
    Given a cache with these models:
      | name           | kind      | revisions |
      | acme/Beta-Chat | chat-4bit | 1         |
    And an empty lock directory for "acme/Beta-Chat"
    When I run "mlxk rm acme/Beta-Chat --force --json"
    Then the exit code is 0
    And the JSON field "data.lock_files_cleaned" is 0
    And the cache no longer has "acme/Beta-Chat"

  Scenario: A repo whose snapshots folder is empty is listed as incomplete and can be removed
    # spec: CACHE-RM-EMPTY-SNAPSHOTS
    Given a cache with these models:
      | name           | kind      | revisions |
      | acme/Beta-Chat | chat-4bit | 1         |
    And the snapshots folder of "acme/Beta-Chat" is empty
    When I run "mlxk health acme/Beta-Chat --json"
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" contains "no snapshot in the cache"
    When I run "mlxk rm acme/Beta-Chat --force --json"
    Then the exit code is 0
    And the cache no longer has "acme/Beta-Chat"

  Scenario: Unicode, emoji and quotes in a prompt reach the model and back unharmed
    # spec: RUN-UNICODE
    Given the standard fixture cache
    When I run "mlxk run TinyLlama-Chat-4bit "héllo 👋 \"quoted\" and 'single' — ünïcödé" --json"
    Then the exit code is 0
    And the JSON field "data.prompt" is "héllo 👋 "quoted" and 'single' — ünïcödé"
    And the JSON field "data.response" is "Hello! I am a tiny test model, happy to help."

  Scenario: Two runs at once each get their own whole answer
    # spec: RUN-CONCURRENT
    Given the standard fixture cache
    When I run "mlxk run TinyLlama-Base 'Count: one' --max-tokens 12 --json" twice at once
    Then both runs exit 0 with the same response

  Scenario: A long prompt (2,500 characters) that fits the context is answered
    # spec: RUN-LONG-PROMPT
    Given the standard fixture cache
    When I run "mlxk run TinyLlama-Chat-4bit '<2500 a>' --json"
    Then the exit code is 0
    And the JSON field "data.response" is "Hello! I am a tiny test model, happy to help."
