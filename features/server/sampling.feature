Feature: Sampling for agents: JSON from any model, n choices, seeds and logprobs
  What must hold whatever a model says is checked on a model with random weights that
  never ends by itself (mlx-community/Tiny-Random-Llama): the worst case for a schema.

  Background:
    Given a running server on the standard fixture cache

  Scenario Outline: Even a random-weight model's JSON validates, alone and beside free requests
    # spec: STRUCTURED-ANY-MODEL
    When the random model answers a <kind> in 5 runs alone and 5 beside free requests, in at most <budget> tokens
    Then every constrained answer is JSON valid for its schema
    And each free answer equals its answer alone

    Examples:
      | kind                            | budget |
      | json_object                     | 40     |
      | nested schema                   | 60     |
      | schema with enums               | 80     |
      | schema with arrays              | 60     |
      | schema with bounds and patterns | 80     |
      | schema with free text           | 30     |

  Scenario: n=3 gives three choices of one prompt, and usage counts each of them
    # spec: SAMPLING-N
    When the openai client asks the random model for 3 choices at temperature 1 with seed 5
    Then there are 3 choices, indexed 0 to 2, not all the same
    And the usage counts the prompt once and every choice's tokens
    And the same request again gives the same 3 choices
    And the same request streamed gives the same 3 choices

  Scenario: A seeded request gives the same text alone and in a batch
    # spec: SAMPLING-SEED
    When the random model is asked at temperature 1 with seed 42 alone, then beside 3 other requests
    Then both answers are the same
    And with seed 43 the answer is another

  Scenario Outline: logprobs are the log-softmax of the model's own logits
    # spec: SAMPLING-LOGPROBS
    When the random model gives 12 greedy tokens with 5 top logprobs <how>
    Then each token, its logprob and its top logprobs are those of the model's logits, within 1e-4

    Examples:
      | how                      |
      | alone                    |
      | beside 2 other requests  |
      | through /v1/completions  |

  Scenario Outline: A model that reasons first gives its JSON answer after its reasoning
    # spec: STRUCTURED-OUTPUT
    When the openai client asks "<model>" for a json_object in at most 60 tokens
    Then the answer's content is a JSON object

    Examples:
      | model                              |
      | mlx-community/TinyQwen3-Think-Open |
      | mlx-community/TinyQwen3-Think-4bit |
      | mlx-community/tiny-gpt-oss-harmony |
