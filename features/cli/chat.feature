Feature: Interactive chat keeps the conversation
  `mlxk run MODEL` with no prompt chats: history is kept and rendered with the chat
  template, the KV cache is reused between turns, and the chat ends cleanly.

  Background:
    Given the standard fixture cache

  Scenario: Earlier turns shape later answers until /clear
    # spec: RUN-CHAT-HISTORY
    When I chat with "TinyLlama-Chat-4bit" typing "Hi|I like banana|Hi again|/clear|Hi again|/exit"
    Then the exit code is 0
    And the assistant's answers are "Hello! I am a tiny test model, happy to help.|You mentioned the fruit earlier.|You mentioned the fruit earlier.|Hello! I am a tiny test model, happy to help."
    And stdout contains "Goodbye."

  Scenario Outline: The chat ends on an exit word or at the end of input
    # spec: RUN-CHAT-EXIT
    When I chat with "TinyLlama-Chat-4bit" typing "<lines>"
    Then the exit code is 0
    And stdout contains "Goodbye."

    Examples:
      | lines    |
      | Hi\|quit |
      | exit     |
      | /exit    |
      | Hi       |

  Scenario: Turn two reuses the KV cache of turn one
    # spec: RUN-CHAT-KV
    When I chat with "TinyLlama-Chat-4bit" typing "Hi|Hi again|/exit" with "--verbose"
    Then the second turn reused cached prompt tokens

  Scenario: Chat cannot be combined with --json
    # spec: RUN-CHAT-JSON
    When I run "mlxk run TinyLlama-Chat-4bit --json"
    Then the exit code is 2
    And the JSON error type is "usage_error"

  Scenario: /help lists the chat's commands instead of going to the model
    # spec: RUN-CHAT-HELP
    When I chat with "TinyLlama-Chat-4bit" typing "/help|/exit"
    Then the exit code is 0
    And stdout contains "/clear  forget the conversation"
    And stdout contains "/exit   end the chat"
    And the model was not asked anything
