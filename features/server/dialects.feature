Feature: One engine, three dialects
  Chat Completions, Responses and Messages share the model, the batch, the prompt
  cache, the reasoning split and the tool parsers: the same conversation gets the same
  answer in each.

  Background:
    Given a running server on the standard fixture cache

  Scenario Outline: The same tool conversation through all three dialects gives the same call and the same answer
    # spec: DIALECTS-SAME
    When the same tool conversation goes to "<model>" through all three dialects
    Then each dialect makes the same call to get_weather with the same arguments
    And after the tool's result each dialect answers the same text

    Examples:
      | model                                |
      | mlx-community/TinyQwen3-Tools-4bit   |
      | mlx-community/TinyLlama3-Tools       |
      | mlx-community/tiny-gpt-oss-tools     |

  Scenario Outline: The same question through all three dialects gives the same answer and reasoning
    # spec: DIALECTS-SAME
    When "<model>" is asked "Hi" through all three dialects
    Then the three answers and their reasoning are the same

    Examples:
      | model                                |
      | mlx-community/TinyQwen3-Think-4bit   |
      | mlx-community/tiny-gpt-oss-harmony   |

  Scenario: Requests in all three dialects at once are batched and answer as each does alone
    # spec: DIALECTS-SAME
    When 2 requests in each dialect run at once on "mlx-community/Tiny-Random-Llama" for 24 greedy tokens
    Then each answers the text it gives alone
