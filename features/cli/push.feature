Feature: mlxk push uploads a healthy model folder through huggingface_hub
  Tested against a Hub stand-in on 127.0.0.1 that takes every file as a regular blob
  (the Hub's LFS and Xet transfers are not served offline).

  Background:
    Given the standard fixture cache
    And an empty fake Hub on 127.0.0.1 that takes uploads
    When I run "mlxk clone TinyLlama-Chat-4bit ./mine" in the scenario folder

  Scenario: A folder pushed and pulled back comes back byte for byte
    # spec: CACHE-PUSH
    When I run "mlxk push ./mine me/my-model --json" in the scenario folder
    Then the exit code is 0
    And the output is a valid JSON envelope for "push"
    And the fake Hub got one commit to "me/my-model" without the clone's record
    And pulling "me/my-model" into a cache of its own gives the files of "mine", byte for byte

  Scenario: --dry-run lists what would be sent and sends nothing
    # spec: CACHE-PUSH
    When I run "mlxk push ./mine me/my-model --dry-run" in the scenario folder
    Then the exit code is 0
    And stdout contains "would upload to me/my-model"
    And stdout contains "model.safetensors"
    And stdout does not contain ".mlxk-clone.json"
    And the fake Hub saw no request

  Scenario Outline: What cannot be pushed is refused before anything is sent
    # spec: CACHE-PUSH
    Given an empty folder "empty" and a file "notes.txt"
    When I run "<command>" in the scenario folder
    Then the exit code is not 0
    And the error is one line on stderr without a traceback
    And stderr contains "<text>"
    And the fake Hub saw no request

    Examples:
      | command                                   | text                |
      | mlxk push ./empty me/my-model             | not ready to push   |
      | mlxk push TinyLlama-Chat-4bit me/my-model | by its path         |
      | mlxk push ./mine not-a-repo               | expected org/name   |

  Scenario: --private makes a new repo private, and refuses to send to a public one
    # spec: CACHE-PUSH
    When I run "mlxk push ./mine me/secret --private" in the scenario folder
    Then the exit code is 0
    And the fake Hub holds "me/secret" as a private repo
    When I run "mlxk push ./mine me/open" in the scenario folder
    And I run "mlxk push ./mine me/open --private" in the scenario folder
    Then the exit code is not 0
    And stderr contains "exists and is public"
    And the fake Hub got 2 commits in all
