Feature: mlxk rm removes what was asked for and nothing else
  Removal is planned first, confirmed in a terminal or with --force, and never
  touches anything outside the cache.

  Background:
    Given a cache with these models:
      | name                          | kind      | revisions |
      | mlx-community/Alpha-Chat-4bit | chat-4bit | 1         |
      | mlx-community/Alpha-Base      | base      | 2         |
      | acme/Beta-Chat                | chat      | 1         |

  Scenario: --force removes the whole repo and its stale locks
    # spec: CACHE-RM-WHOLE
    Given a stale lock file for "acme/Beta-Chat"
    When I run "mlxk rm acme/Beta-Chat --force --json"
    Then the exit code is 0
    And the output is a valid JSON envelope for "rm"
    And the JSON field "data.action" is "deleted"
    And the JSON field "data.lock_files_cleaned" is 1
    And the cache no longer has "acme/Beta-Chat"
    And the cache still has "mlx-community/Alpha-Chat-4bit" with 1 revision(s)

  Scenario: Without a terminal and without --force nothing is removed
    # spec: CACHE-RM-CONFIRM
    Given every file in the cache is recorded
    When I run "mlxk rm acme/Beta-Chat --json"
    Then the exit code is 1
    And the JSON error type is "confirmation_required"
    And the JSON field "data.requires_confirmation" is "True"
    And every file in the cache is unchanged

  Scenario: --dry-run shows the plan and removes nothing
    # spec: CACHE-RM-PLAN
    Given every file in the cache is recorded
    When I run "mlxk rm Alpha-Chat-4bit --dry-run --json"
    Then the exit code is 0
    And the JSON field "data.action" is "planned"
    And the JSON field "data.deleted_paths.0" is "models--mlx-community--Alpha-Chat-4bit"
    And every file in the cache is unchanged

  Scenario: An ambiguous name removes nothing and lists the candidates
    # spec: CACHE-RM-AMBIGUOUS
    Given every file in the cache is recorded
    When I run "mlxk rm Alpha --force --json"
    Then the exit code is 1
    And the JSON error type is "ambiguous_match"
    And the JSON field "error.matches" is "['mlx-community/Alpha-Base', 'mlx-community/Alpha-Chat-4bit']"
    And every file in the cache is unchanged

  Scenario Outline: A name that tries to leave the cache is refused
    # spec: CACHE-NAME-TRAVERSAL
    Given a file outside the cache at "precious/file.txt"
    And every file in the cache is recorded
    When I run "mlxk rm <name> --force --json"
    Then the exit code is 1
    And the JSON error type is "invalid_model_name"
    And every file in the cache is unchanged

    Examples:
      | name                      |
      | ../precious               |
      | /etc/passwd               |
      | models--acme--Beta-Chat   |
      | acme/../../precious       |
      | ~/precious                |

  Scenario: Removing one revision keeps the others and their shared blobs
    # spec: CACHE-RM-REVISION
    Given every file in the cache is recorded
    When I remove revision 1 of "mlx-community/Alpha-Base" with "--force --json"
    Then the exit code is 0
    And the JSON field "data.action" is "delete_hash"
    And the cache still has "mlx-community/Alpha-Base" with 1 revision(s)
    And the only files gone are revision 1 of "mlx-community/Alpha-Base" and its own blobs no other revision uses

  Scenario: In a terminal rm asks first and removes only on yes
    # spec: CACHE-RM-CONFIRM
    When I run "mlxk rm acme/Beta-Chat" in a terminal and answer "n"
    Then the exit code is 0
    And stdout contains "cancelled, nothing removed"
    And the cache still has "acme/Beta-Chat" with 1 revision(s)
    When I run "mlxk rm acme/Beta-Chat" in a terminal and answer "y"
    Then the exit code is 0
    And the cache no longer has "acme/Beta-Chat"

  Scenario: Removing a model that is not cached says so and removes nothing
    # spec: CACHE-RM-NOT-FOUND
    Given every file in the cache is recorded
    When I run "mlxk rm nobody/nothing --force --json"
    Then the exit code is 1
    And the JSON error type is "model_not_found"
    And every file in the cache is unchanged
