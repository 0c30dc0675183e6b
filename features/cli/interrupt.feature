Feature: Ctrl-C in a chat stops the answer, not the chat

  Scenario: Ctrl-C during an answer returns to the prompt; Ctrl-C at the prompt ends the chat
    # spec: RUN-CHAT-INTERRUPT
    Given the standard fixture cache
    When I start a chat with "TinyLlama-Base" and ask "one"
    And I press Ctrl-C while it answers
    Then the answer stops and the chat asks for the next message
    When I press Ctrl-C at the prompt
    Then the chat ends with exit code 0 and no traceback
