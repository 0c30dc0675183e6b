Feature: The server serves model folders only from under --model-dir
  A request's model may name a folder by its path, but only under the folders the server
  was started with; anything else is refused before a file is read.

  Background:
    Given the standard fixture cache
    And a copy of "mlx-community/TinyLlama-Chat-4bit" in the folder "models/chat"
    And a copy of "mlx-community/TinyLlama-Chat-4bit" in the folder "elsewhere/chat"

  Scenario: A folder under --model-dir is served, by relative or absolute path
    # spec: FOLDER-SERVE
    Given a running server of its own serving model folders from "models"
    When a client asks for the model "./chat"
    Then the answer is "Hello! I am a tiny test model, happy to help." from the model "<tmp>/models/chat"
    When a client asks for the model "<tmp>/models/chat"
    Then the answer is "Hello! I am a tiny test model, happy to help." from the model "<tmp>/models/chat"
    And /v1/models lists the folder "models/chat"

  Scenario Outline: A folder outside --model-dir is a 403, and a missing one a 404
    # spec: FOLDER-SERVE
    Given a running server of its own serving model folders from "models"
    When a client asks for the model "<model>"
    Then the HTTP status is <status>

    Examples:
      | model                        | status |
      | <tmp>/elsewhere/chat         | 403    |
      | ./../elsewhere/chat          | 403    |
      | <tmp>/models/../elsewhere/chat | 403  |
      | /etc                         | 403    |
      | ../../etc/passwd             | 403    |
      | ./missing                    | 404    |
      | ./<300 a>                    | 404    |

  Scenario: Without --model-dir no folder is served
    # spec: FOLDER-SERVE
    Given a running server on the standard fixture cache
    When a client asks for the model "<tmp>/models/chat"
    Then the HTTP status is 403
    And the error message contains "--model-dir"

  Scenario: serve --model with a folder serves that folder, and no other
    # spec: FOLDER-SERVE
    Given a running server of its own started with --model "<tmp>/models/chat"
    When a client asks for the model "<tmp>/models/chat"
    Then the answer is "Hello! I am a tiny test model, happy to help." from the model "<tmp>/models/chat"
    When a client asks for the model "<tmp>/elsewhere/chat"
    Then the HTTP status is 403
