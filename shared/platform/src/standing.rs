//! What the database says about a user's standing, for the use cases of several crates that
//! must decide on it (the workflow, documents).

use sqlx::PgConnection;
use uuid::Uuid;

/// Whether contractor `id` may act on their work now: active, verified, access not revoked.
/// The row is share-locked for the caller's transaction, so a revocation committing meanwhile
/// waits for it instead of slipping in between the check and the change.
pub async fn contractor_in_good_standing(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let standing: Option<bool> = sqlx::query_scalar(
        "SELECT active AND verification_status = 'verified' AND NOT access_revoked
         FROM users WHERE id = $1 FOR SHARE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(standing.unwrap_or(false))
}
