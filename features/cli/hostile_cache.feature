Feature: A hostile or damaged cache never makes mlxk delete, hang or crash
  Scripts feed mlxk empty variables, caches hold links to anywhere, and directories lose
  their permissions. mlxk deletes only what it was asked to, inside the model's own repo,
  walks only the model's own files, and says what is wrong in one line.

  Background:
    Given a cache with these models:
      | name                     | kind      | revisions |
      | mlx-community/Alpha-Base | base      | 2         |
      | acme/Other-Chat          | chat-4bit | 1         |

  Scenario Outline: An empty or malformed revision is a usage error and deletes nothing
    # spec: CACHE-RM-REVISION-SPEC
    Given every file in the cache is recorded
    When I run "mlxk rm <spec> --force --json"
    Then the exit code is 1
    And the JSON error type is "invalid_model_name"
    And every file in the cache is unchanged

    Examples:
      | spec                             |
      | mlx-community/Alpha-Base@        |
      | Alpha-Base@                      |
      | @                                |
      | @abc                             |
      | mlx-community/Alpha-Base@@1      |
      | mlx-community/Alpha-Base@../refs |
      | mlx-community/Alpha-Base@a/b     |

  Scenario: Removing a revision never follows its links into another repo or out of the cache
    # spec: CACHE-RM-OWN-FILES
    Given a file outside the cache at "precious/file.txt"
    And revision 1 of "mlx-community/Alpha-Base" links "extra.safetensors" to the "model.safetensors" blob of "acme/Other-Chat"
    And revision 1 of "mlx-community/Alpha-Base" links "notes.txt" to the file outside the cache
    And every file in the cache is recorded
    When I remove revision 1 of "mlx-community/Alpha-Base" with "--force --json"
    Then the exit code is 0
    And the JSON field "data.foreign_links" is "['extra.safetensors', 'notes.txt']"
    And every file of "acme/Other-Chat" is unchanged
    And the files outside the cache are untouched
    And the cache still has "mlx-community/Alpha-Base" with 1 revision(s)
    And the only files gone are revision 1 of "mlx-community/Alpha-Base" and its own blobs no other revision uses

  Scenario Outline: A link to a directory outside the repo is never walked
    # spec: CACHE-DIR-LINK
    Given <where> of "acme/Other-Chat" is a link to "/"
    When I run "mlxk list --all --json" with a 20 second limit
    Then the exit code is 0
    And the JSON field "data.count" is 2
    When I run "mlxk health acme/Other-Chat --json" with a 20 second limit
    Then the exit code is 1
    And the JSON field "data.unhealthy.0.reason" contains "is a link to a directory outside the model's repo"
    When I run "mlxk show acme/Other-Chat --files --json" with a 20 second limit
    Then the exit code is 0
    When I run "mlxk run acme/Other-Chat hi" with a 20 second limit
    Then the exit code is 1
    And the error is one line on stderr without a traceback

    Examples:
      | where                                  |
      | a directory "escape" in the snapshot   |
      | the snapshot directory                 |

  Scenario Outline: An over-long or malformed name is refused before any file is touched
    # spec: CACHE-NAME-LENGTH
    When I run "mlxk <command> <name> --json"
    Then the exit code is 1
    And the JSON error type is "invalid_model_name"
    And the error message is at most 200 characters

    Examples:
      | command | name           |
      | show    | <300 a>        |
      | health  | acme/<300 b>   |
      | rm      | <97 c>         |
      | run     | org/<300 d>@1 hi |

  Scenario Outline: A directory mlxk may not read is named, and the rest of the cache still works
    # spec: CACHE-UNREADABLE-DIR
    Given the <which> directory of "acme/Other-Chat" may not be read
    When I run "mlxk health --json" as a user without access to that file
    Then the exit code is 1
    And the JSON field "data.summary.healthy_count" is 1
    And the JSON field "data.unhealthy.0.reason" contains "cannot be read (permission denied)"
    When I run "mlxk list --json" as a user without access to that file
    Then the exit code is 0
    And the JSON list has no date before 2000

    Examples:
      | which    |
      | snapshot |
      | repo     |

  Scenario: A cache directory mlxk may not read is a clear error, not an empty cache
    # spec: CACHE-UNREADABLE-HUB
    Given the cache directory may not be read
    When I run "mlxk list --json" as a user without access to that file
    Then the exit code is 1
    And the JSON error type is "permission_denied"
    When I run "mlxk show acme/Other-Chat --json" as a user without access to that file
    Then the exit code is 1
    And the JSON error type is "permission_denied"

  Scenario: A cache path that is a file is a clear error, not an empty cache
    # spec: CACHE-HUB-FILE
    Given the cache path is a regular file
    When I run "mlxk list --json"
    Then the exit code is 1
    And the JSON error type is "cache_not_found"
    And the JSON field "error.message" contains "is a file, not a directory"
