-- Firefox Enterprise builds (mozilla/enterprise-firefox on GitHub).
-- A Gecko product built from GitHub: it keeps Firefox's GECKO env prefix and prebuilt image rule.
-- Its source check also accepts COMM_HEAD_REPOSITORY (VERIFY.md section 8).
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["enterprise"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "enterprise",
  description = "Firefox Enterprise builds (mozilla/enterprise-firefox on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "GECKO",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = {
    "action",
    "cron",
    "github-pull-request",
    "github-push",
    "github-release",
    "pr-action",
  },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "enterprise-1/decision",
    "enterprise-2/decision",
    "enterprise-3/decision",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "enterprise-1/images",
    "enterprise-2/images",
    "enterprise-3/images",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = { "decision", "action", "docker-image" },
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla/enterprise-firefox)(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:enterprise:releng:signing:cert:fennec-production-signing"] = "enterprise-firefox-repo",
    ["project:enterprise:releng:signing:cert:nightly-signing"] = "enterprise-firefox-repo",
    ["project:enterprise:releng:signing:cert:production-signing"] = "enterprise-firefox-repo",
    ["project:enterprise:releng:signing:cert:release-signing"] = "enterprise-firefox-repo",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["enterprise-firefox-repo"] = { "/mozilla/enterprise-firefox" },
  },
}
