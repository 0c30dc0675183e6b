Feature: Embeddings from the same server, for RAG clients
  POST /v1/embeddings answers with unit vectors computed by mlx-embeddings, pooled as
  each model's sentence-transformers files say, batched by length; the embedding model
  is loaded beside the chat model.

  Background:
    Given a running server on the standard fixture cache

  Scenario Outline: The server's vectors are the library's, alone or in a batch of mixed lengths
    # spec: EMBED-VECTORS
    When the openai client embeds 32 texts of mixed length with "<model>"
    And the openai client embeds one of them alone with "<model>"
    Then each vector equals mlx-embeddings' own output for its text, within 1e-5
    And the text embedded alone has the vector it has in the batch, within 1e-5
    And every vector has norm 1
    And the usage counts the real tokens of the texts

    Examples:
      | model                              |
      | mlx-community/tiny-bert-embedder   |
      | mlx-community/Tiny-Qwen3-Embedding |

  Scenario: base64, token ids and dimensions give the same vectors in other shapes
    # spec: EMBED-FORMATS
    When the openai client embeds "the sea is blue" with "mlx-community/Tiny-Qwen3-Embedding"
    Then as base64 it decodes to the same floats
    And as token ids it gives the same vector
    And with dimensions 8 it is the first 8 numbers normalised again

  Scenario: LangChain's OpenAIEmbeddings works against the server
    # spec: EMBED-RAG-CLIENT
    When LangChain's OpenAIEmbeddings embeds two documents and a query with "mlx-community/tiny-bert-embedder"
    Then it gets vectors equal to the openai client's

  Scenario: A chat model and an embedding model serve side by side without reloading
    # spec: EMBED-BESIDE-CHAT
    When a chat request, an embeddings request and a chat request run one after another
    Then each is answered
    And /health shows the chat model and the embedding model both loaded
    And /v1/models marks both loaded, with their types

  Scenario Outline: Bad embeddings requests are a 400 naming what is wrong
    # spec: EMBED-BAD-INPUT
    When I POST to "/v1/embeddings":
      """
      <body>
      """
    Then the HTTP status is 400
    And the error names the parameter "<param>"
    And the error message contains "<text>"

    Examples:
      | body                                                                                     | param      | text                   |
      | {"model": "mlx-community/tiny-bert-embedder", "input": []}                               | input      | empty list             |
      | {"model": "mlx-community/tiny-bert-embedder", "input": ""}                               | input      | empty string           |
      | {"model": "mlx-community/tiny-bert-embedder", "input": ["fine", ""]}                     | input      | item 1 is empty        |
      | {"model": "mlx-community/tiny-bert-embedder", "input": 42}                               | input      | must be a string       |
      | {"model": "mlx-community/tiny-bert-embedder", "input": ["ok", "<60 word >"]}              | input[1]   | over this model's 48   |
      | {"model": "mlx-community/tiny-bert-embedder", "input": "x", "dimensions": 8}             | dimensions | not Matryoshka         |
      | {"model": "mlx-community/Tiny-Qwen3-Embedding", "input": "x", "dimensions": 999}         | dimensions | more than this model's |
      | {"model": "mlx-community/tiny-bert-embedder", "input": [[5, 999999]]}                    | input[0]   | outside the vocabulary |
      | {"model": "mlx-community/TinyLlama-Chat-4bit", "input": "x"}                             | model      | not an embedding model |
      | {"model": "mlx-community/tiny-bert-embedder", "input": "x", "encoding_format": "int8"}   | encoding_format | encoding_format   |

  Scenario: Ten thousand inputs in one request are refused, not computed
    # spec: EMBED-BAD-INPUT
    When I POST 10000 inputs to "/v1/embeddings" for "mlx-community/tiny-bert-embedder"
    Then the HTTP status is 400
    And the error message contains "at most 2048"
    And the server still answers a normal request

  Scenario: An over-long input is cut when the request says truncate
    # spec: EMBED-BAD-INPUT
    When I POST to "/v1/embeddings":
      """
      {"model": "mlx-community/tiny-bert-embedder", "input": "<60 word >", "truncate": true}
      """
    Then the HTTP status is 200
    And the usage counts 48 tokens

  Scenario: An embedding model asked to chat says where to go
    # spec: EMBED-BAD-INPUT
    When I POST to "/v1/chat/completions":
      """
      {"model": "mlx-community/tiny-bert-embedder", "messages": [{"role": "user", "content": "hi"}]}
      """
    Then the HTTP status is 400
    And the error message contains "/v1/embeddings"

  Scenario: serve --model preloads an embedding model too
    # spec: EMBED-BESIDE-CHAT
    Given a running server of its own started with --model "mlx-community/Tiny-Qwen3-Embedding"
    Then /health shows "mlx-community/Tiny-Qwen3-Embedding" as the embedding model before any request

  Scenario: When the memory bound holds one model but not both, the idle one gives way
    # spec: EMBED-BESIDE-CHAT
    Given a running server of its own whose memory bound holds "mlx-community/TinyLlama-Chat-4bit" or "mlx-community/tiny-bert-embedder" but not both
    When a chat request, an embeddings request and a chat request run one after another
    Then each is answered
    And /health shows "mlx-community/TinyLlama-Chat-4bit" loaded and no embedding model
