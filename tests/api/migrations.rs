//! The two migration sets stay in step: same migration names, and after migrating, the same tables with the
//! same columns and nullability (docs/decisions/0002).

use crate::helpers::*;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use std::collections::BTreeSet;

fn names(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(repo_path(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect()
}

#[test]
fn both_folders_hold_the_same_migrations() {
    let (sqlite, postgres) = (names("migrations/sqlite"), names("migrations/postgres"));
    assert_eq!(sqlite, postgres);
    for m in &sqlite {
        for file in ["up.sql", "down.sql"] {
            assert!(
                repo_path(&format!("migrations/sqlite/{m}/{file}")).exists(),
                "{m}/{file}"
            );
            assert!(
                repo_path(&format!("migrations/postgres/{m}/{file}")).exists(),
                "{m}/{file}"
            );
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Bool)]
    nullable: bool,
}

async fn columns(app: &TestApp) -> BTreeSet<(String, String, bool)> {
    let backend = app.backend;
    let rows: Vec<Column> = app
        .store
        .read(move |conn| {
            Ok(match backend {
                Backend::Sqlite => diesel::sql_query(
                    "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" = 0 AND p.pk = 0) AS nullable \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '__diesel_schema_migrations'",
                )
                .load(conn)?,
                Backend::Postgres => diesel::sql_query(
                    "SELECT table_name::text AS table_name, column_name::text AS column_name, (is_nullable = 'YES') AS nullable \
                     FROM information_schema.columns WHERE table_schema = 'public' AND table_name != '__diesel_schema_migrations'",
                )
                .load(conn)?,
            })
        })
        .await
        .unwrap();
    rows.into_iter()
        .map(|c| (c.table_name, c.column_name, c.nullable))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_schemas_have_the_same_columns_and_nullability() {
    let sqlite = spawn_app_with(Backend::Sqlite, &[]).await;
    let postgres = spawn_app_with(Backend::Postgres, &[]).await;
    let (a, b) = (columns(&sqlite).await, columns(&postgres).await);
    assert!(a.len() > 50, "{a:?}");
    let only_sqlite: Vec<_> = a.difference(&b).collect();
    let only_postgres: Vec<_> = b.difference(&a).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:?}\nonly in PostgreSQL: {only_postgres:?}"
    );
}
