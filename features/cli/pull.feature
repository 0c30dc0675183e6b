Feature: mlxk pull downloads through huggingface_hub, safely
  Tested against a hub-compatible server on 127.0.0.1 (HF_ENDPOINT), through the real
  huggingface_hub client: success, resume after a cut connection, gated, missing and
  failing repos. A failed download never leaves a model that looks healthy.

  Background:
    Given a fake Hub on 127.0.0.1 serving "acme/Tiny-Chat-4bit", gated "acme/Gated-Chat" and private "acme/Secret-Chat"

  Scenario: A pull writes a healthy, runnable model into the cache
    # spec: CACHE-PULL
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "pull"
    And the JSON field "data.download_status" is "success"
    And the cache holds a healthy snapshot of "acme/Tiny-Chat-4bit"
    When I run "mlxk run acme/Tiny-Chat-4bit Hi"
    Then stdout is exactly "Hello! I am a tiny test model, happy to help."
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the JSON field "data.download_status" is "already_exists"

  Scenario: A cut connection leaves an unhealthy partial download that the next pull completes
    # spec: CACHE-PULL-RESUME
    Given the fake Hub cuts "model.safetensors" after 200000 bytes, 20 times
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the exit code is 1
    And the JSON error type is "download_failed"
    And "acme/Tiny-Chat-4bit" is not reported healthy
    Given the fake Hub no longer cuts connections
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the exit code is 0
    And the second pull downloaded only "model.safetensors"
    And the cache holds a healthy snapshot of "acme/Tiny-Chat-4bit"

  Scenario Outline: Gated, private and missing repos fail before anything is written
    # spec: CACHE-PULL-ACCESS
    When I run "mlxk pull <repo> --json"
    Then the exit code is 1
    And the JSON error type is "<code>"
    And the cache has nothing for "<repo>"

    Examples:
      | repo              | code            |
      | acme/Gated-Chat   | access_denied   |
      | acme/Secret-Chat  | model_not_found |
      | acme/Nothing-Here | model_not_found |

  Scenario: A server error during the download is a clear failure, and nothing looks healthy
    # spec: CACHE-PULL-RESUME
    Given the fake Hub answers HTTP 500 for "model.safetensors"
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the exit code is 1
    And the JSON error type is "download_failed"
    And "acme/Tiny-Chat-4bit" is not reported healthy

  Scenario: A write error (file size limit) fails the pull, and nothing looks healthy
    # spec: CACHE-PULL-DISK
    When I run "mlxk pull acme/Tiny-Chat-4bit --json" as a process that may write at most 100000 bytes per file
    Then the exit code is 1
    And the JSON error type is "download_failed"
    And "acme/Tiny-Chat-4bit" is not reported healthy

  Scenario Outline: Names that are not repo ids are refused without a request
    # spec: CACHE-NAME-TRAVERSAL
    When I run "mlxk pull <name> --json"
    Then the exit code is 1
    And the JSON error type is "invalid_model_name"
    And the fake Hub saw no request

    Examples:
      | name            |
      | ../etc/passwd   |
      | /abs/path       |
      | a//b            |

  Scenario: Without a reachable Hub pull says so in one line, as a network error
    # spec: CACHE-PULL-NETWORK
    Given the Hub cannot be reached
    When I run "mlxk pull acme/Some-Model --json"
    Then the exit code is 1
    And the JSON error type is "network_error"
    And the JSON field "error.message" contains "could not reach the Hub at http://127.0.0.1:9"
    When I run "mlxk pull acme/Some-Model"
    Then the error is one line on stderr without a traceback

  Scenario: Ctrl-C during a download stops it in one line, and the next pull finishes it
    # spec: CACHE-PULL-RESUME
    Given the fake Hub stalls "model.safetensors" after 200000 bytes
    When I start "mlxk pull acme/Tiny-Chat-4bit" and press Ctrl-C once the download has stalled
    Then it exits with code 130, saying it was interrupted, without a traceback
    And "acme/Tiny-Chat-4bit" is not reported healthy
    Given the fake Hub no longer stalls
    When I run "mlxk pull acme/Tiny-Chat-4bit --json"
    Then the exit code is 0
    And the cache holds a healthy snapshot of "acme/Tiny-Chat-4bit"
