Feature: Ctrl-C in a chat stops the answer, not the chat

  Scenario: Ctrl-C during an answer returns to the prompt; Ctrl-C at the prompt ends the chat
    # spec: RUN-CHAT-INTERRUPT
    Given the standard fixture cache
    When I start a chat with "TinyLlama-Base" and ask "one"
    And I press Ctrl-C while it answers
    Then the answer stops and the chat asks for the next message
    When I press Ctrl-C at the prompt
    Then the chat ends with exit code 0 and no traceback

  Scenario Outline: A signal during a single answer keeps what was printed and exits 130
    # spec: RUN-INTERRUPT
    Given the standard fixture cache
    When I start "mlxk run TinyLlama-Base 'Count: one' --max-tokens 3000" and send <signal> once it has printed " four"
    Then it exits with code 130, what it printed stays, and there is no traceback

    Examples:
      | signal  |
      | SIGINT  |
      | SIGTERM |

  Scenario Outline: A signal during a long health check ends it in one line with exit 130
    # spec: RUN-INTERRUPT
    Given a cache with these models:
      | name     | kind      | revisions |
      | acme/Big | chat-4bit | 1         |
    And the weights of "acme/Big" are padded to 2 GB
    When I start "mlxk health acme/Big --deep" and send <signal> once it has read 100 MB
    Then it exits with code 130, saying it was interrupted, without a traceback

    Examples:
      | signal  |
      | SIGINT  |
      | SIGTERM |
