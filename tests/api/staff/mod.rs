//! The staff API (issue #4), one file per kind of operation as in `src/app/staff/`.

mod accounts;
mod keys;
mod matrix;
mod sessions;
mod triage;
