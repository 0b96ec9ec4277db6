//! The command line as an operator uses it (issue item 2): API keys, import, migrate, configuration errors.

use crate::both_backends;
use crate::helpers::*;
use std::process::Command;

both_backends!(
    apikey_create_prints_the_key_last_and_revoke_stops_it,
    keys_get_their_own_rate_from_the_command_line_and_key_files,
    the_first_key_is_created_once_at_first_start,
    import_is_idempotent_and_updates_on_change,
    a_bad_import_changes_nothing,
    what_operators_do_at_the_command_line_is_audited
);

fn civic311(args: &[&str], db: &civic311::config::DatabaseUrl) -> (bool, String, String) {
    civic311_with(args, db, &[])
}

fn civic311_with(
    args: &[&str],
    db: &civic311::config::DatabaseUrl,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let url = match db {
        civic311::config::DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        civic311::config::DatabaseUrl::Postgres(u) => u.clone(),
    };
    let out = Command::new(env!("CARGO_BIN_EXE_civic311"))
        .args(args)
        .env("CIVIC311_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn apikey_create_prints_the_key_last_and_revoke_stops_it(app: TestApp) {
    let db = app.database_url.clone();
    let (ok, out, err) = tokio::task::spawn_blocking(move || {
        civic311(
            &[
                "apikey",
                "create",
                "Jakarta Kini app",
                "--kind",
                "production",
            ],
            &db,
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let key = out.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("c311_") && key.len() > 30, "{out}");
    let form = [
        ("api_key", key.as_str()),
        ("service_code", "LIGHT"),
        ("address_string", "Jl. Thamrin"),
        ("attribute[STATE]", "day"),
    ];
    assert_eq!(app.post_form("json", &form).await.status(), 200);

    let db = app.database_url.clone();
    let (ok, list, _) = tokio::task::spawn_blocking(move || civic311(&["apikey", "list"], &db))
        .await
        .unwrap();
    assert!(ok);
    assert!(
        list.contains("Jakarta Kini app") && !list.contains(&key),
        "{list}"
    );
    let stored = app
        .store
        .read(civic311::store::api_keys::list)
        .await
        .unwrap();
    assert!(
        stored.iter().all(|k| k.key_hash != key),
        "only a hash is stored"
    );

    let db = app.database_url.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        civic311(&["apikey", "revoke", "Jakarta Kini app"], &db)
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    // Another process revoked it: the server's key cache learns it from the catalogue version, which it
    // checks every second.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut status = app.post_form("json", &form).await.status();
    while status != 403 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = app.post_form("json", &form).await.status();
    }
    assert_eq!(status, 403, "a key revoked by the CLI stops working");
}

async fn import_is_idempotent_and_updates_on_change(app: TestApp) {
    let before = app.get_json("/open311/discovery.json").await["changeset"].clone();
    let db = app.database_url.clone();
    let demo = repo_path("examples/demo-city").display().to_string();
    let (ok, out, err) = tokio::task::spawn_blocking(move || civic311(&["import", &demo], &db))
        .await
        .unwrap();
    assert!(ok, "{err}");
    assert!(out.contains(": 0 created, 0 updated, "), "{out}");
    assert_eq!(
        app.get_json("/open311/discovery.json").await["changeset"],
        before,
        "nothing changed, so neither did the changeset"
    );

    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let flood_file = dir.path().join("services/flood.toml");
    let text = std::fs::read_to_string(&flood_file)
        .unwrap()
        .replace("name = \"Flooded street\"", "name = \"Flooded road\"")
        .replace("max = 300", "max = 250");
    std::fs::write(&flood_file, text).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    let summary = tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.created, summary.updated), (0, 1), "{summary:?}");
    assert!(summary.unchanged > 300, "{summary:?}");
    let services = app.get_json("/open311/v2/services.json").await;
    assert!(services
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["service_name"] == "Flooded road"));
    assert_ne!(
        app.get_json("/open311/discovery.json").await["changeset"],
        before
    );
    let resp = app
        .post_form("json", &flood(&[("attribute[DEPTH]", "280")]))
        .await;
    assert_eq!(resp.status(), 400, "the new maximum applies");
}

async fn a_bad_import_changes_nothing(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.toml"),
        "[[services]]\ncode = \"NEWONE\"\nname = \"Fine\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "[[services]]\ncode = \"BROKEN\"\nname = \"Broken\"\n[[services.attributes]]\ncode = \"X\"\ndatatype = \"colour\"\ndescription = \"?\"\n",
    )
    .unwrap();
    let db = app.database_url.clone();
    let d = dir.path().display().to_string();
    let (ok, _, err) = tokio::task::spawn_blocking(move || civic311(&["import", &d], &db))
        .await
        .unwrap();
    assert!(!ok);
    assert!(
        err.contains("b.toml: services[0] (BROKEN): attributes[0] (X): datatype"),
        "{err}"
    );
    let services = app.get_json("/open311/v2/services.json").await;
    assert!(
        !services.to_string().contains("NEWONE"),
        "nothing of a refused import is applied"
    );
}

#[test]
fn unknown_database_scheme_is_a_startup_error_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_civic311"))
        .args(["migrate", "--database-url", "mysql://root@localhost/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("mysql"), "{err}");
}

#[test]
fn unreachable_postgres_fails_fast_with_the_real_error() {
    let start = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_civic311"))
        .args([
            "migrate",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("127.0.0.1") || err.to_lowercase().contains("connect"),
        "{err}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "it should not wait for a pool timeout"
    );
}

/// Regression: with an idle minimum in the pool, r2d2 refilled it from a background thread and a TLS
/// handshake still running there at exit crashed the process in about half of the runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_exit_cleanly_on_postgres() {
    let app = spawn_app(Backend::Postgres).await;
    let db = app.database_url.clone();
    tokio::task::spawn_blocking(move || {
        for run in 0..12 {
            let (ok, _, err) = civic311(&["apikey", "list"], &db);
            assert!(ok, "run {run}: {err}");
        }
    })
    .await
    .unwrap();
}

async fn keys_get_their_own_rate_from_the_command_line_and_key_files(app: TestApp) {
    let db = app.database_url.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        civic311(
            &["apikey", "create", "Qlue", "--rate-limit", "1200/minute"],
            &db,
        )
    })
    .await
    .unwrap();
    assert!(ok, "{err}");
    let db = app.database_url.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || {
        civic311(&["apikey", "create", "bad", "--rate-limit", "fast"], &db)
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(err.contains("'fast' is not a rate"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = |rate: &str| {
        format!(
            "[[api_keys]]\nname = \"city app\"\nkey_sha256 = \"{}\"\nrate_limit = \"{rate}\"\n",
            "ab".repeat(32)
        )
    };
    std::fs::write(dir.path().join("keys.toml"), file("2000/hour")).unwrap();
    let d = dir.path().display().to_string();
    let db = app.database_url.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || civic311(&["import", &d], &db))
        .await
        .unwrap();
    assert!(ok, "{err}");
    std::fs::write(dir.path().join("keys.toml"), file("lots")).unwrap();
    let d = dir.path().display().to_string();
    let db = app.database_url.clone();
    let (ok, _, err) = tokio::task::spawn_blocking(move || civic311(&["import", &d], &db))
        .await
        .unwrap();
    assert!(!ok);
    assert!(err.contains("rate_limit"), "{err}");
    let rates = app
        .store
        .read(civic311::store::api_keys::list)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.name, k.rate_limit))
        .collect::<std::collections::HashMap<_, _>>();
    assert_eq!(rates["Qlue"].as_deref(), Some("1200/min"));
    assert_eq!(rates["city app"].as_deref(), Some("2000/hour"));
}

/// What the compose file runs at every start: the key is created and printed the first time only.
async fn the_first_key_is_created_once_at_first_start(app: TestApp) {
    let run = |db: civic311::config::DatabaseUrl| {
        tokio::task::spawn_blocking(move || {
            civic311(&["apikey", "create", "first-app", "--unless-exists"], &db)
        })
    };
    let (ok, first, err) = run(app.database_url.clone()).await.unwrap();
    assert!(ok, "{err}");
    let key = first.lines().last().unwrap().trim().to_string();
    assert!(key.starts_with("c311_"), "{first}");
    let (ok, second, err) = run(app.database_url.clone()).await.unwrap();
    assert!(ok, "{err}");
    assert!(
        second.contains("exists already") && !second.contains("c311_"),
        "{second}"
    );
    let mut form = light(&[]);
    form.retain(|(k, _)| *k != "api_key");
    form.push(("api_key", key.as_str()));
    assert_eq!(app.post_form("json", &form).await.status(), 200);
}

/// Accounts, keys and re-routing done at the command line are in the audit log with the operator as actor,
/// as the same changes over the staff API are with the staff member.
async fn what_operators_do_at_the_command_line_is_audited(app: TestApp) {
    let id = app.post_flood(&[]).await;
    let (db, report) = (app.database_url.clone(), id.clone());
    let outcomes = tokio::task::spawn_blocking(move || {
        let env = [("CIVIC311_NEW_PASSWORD", PASSWORD), ("USER", "ops-ayu")];
        [
            civic311_with(&["user", "create", "dewi", "--role", "admin"], &db, &env),
            civic311_with(&["apikey", "create", "Kelurahan kiosk"], &db, &env),
            civic311_with(&["apikey", "revoke", "Kelurahan kiosk"], &db, &env),
            civic311_with(
                &[
                    "reroute",
                    &report,
                    "--to",
                    "JSC",
                    "--by",
                    "ops-ayu",
                    "--why",
                    "a road, not a river",
                ],
                &db,
                &env,
            ),
        ]
    })
    .await
    .unwrap();
    for (ok, out, err) in &outcomes {
        assert!(ok, "{out}{err}");
    }
    let entries = app
        .store
        .read(|conn| civic311::store::staff::audit(conn, None, None, 100))
        .await
        .unwrap();
    let by_operator: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.actor == "operator ops-ayu")
        .map(|e| (e.action.clone(), e.target.clone().unwrap_or_default()))
        .collect();
    for (action, target) in [
        ("create user", "user "),
        ("create api key", "api key "),
        ("revoke api key", "api key "),
        ("reroute", "request "),
    ] {
        assert!(
            by_operator
                .iter()
                .any(|(a, t)| a == action && t.starts_with(target)),
            "{action} by the operator in {by_operator:?}"
        );
    }
    let target = |action: &str| {
        by_operator
            .iter()
            .find(|(a, _)| a == action)
            .map(|(_, t)| t.clone())
    };
    assert_eq!(target("reroute"), Some(format!("request {id}")));
    // Revoked by name, recorded by id: the key's creation and revocation share one target.
    assert_eq!(target("revoke api key"), target("create api key"));
}
