//! What the device writes to its local state after processing a batch:
//! the MLS state, as a difference against what was loaded, and the other
//! changes, in one transaction.

use std::collections::HashMap;

use super::*;

impl Local {
    /// Writes the MLS state (as a difference against what was loaded) and the
    /// other changes in one transaction.
    pub async fn commit(
        &self,
        before: &mut HashMap<Vec<u8>, Vec<u8>>,
        after: &HashMap<Vec<u8>, Vec<u8>>,
        changes: Changes,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        for k in before.keys() {
            if !after.contains_key(k) {
                sqlx::query("DELETE FROM mls WHERE k = ?")
                    .bind(k)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        for (k, v) in after {
            if before.get(k) != Some(v) {
                sqlx::query("INSERT INTO mls (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v")
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
        }
        for (chat, name) in &changes.chats {
            sqlx::query(
                "INSERT INTO chats (chat_id, name, joined_at, active) VALUES (?, ?, ?, 1) \
                 ON CONFLICT (chat_id) DO UPDATE SET active = 1, left_at = NULL",
            )
            .bind(chat)
            .bind(name)
            .bind(kizuna_wire::now_ms() as i64)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for (chat, name) in &changes.names {
            sqlx::query("UPDATE chats SET name = ? WHERE chat_id = ?")
                .bind(name)
                .bind(chat)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        for (chat, at) in &changes.left {
            sqlx::query("UPDATE chats SET active = 0, left_at = ? WHERE chat_id = ?")
                .bind(*at as i64)
                .bind(chat)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        for (chat, standing) in &changes.standing {
            let (from, declined) = match standing {
                Standing::Accepted => (None, false),
                Standing::Request { from } => (Some(from.as_str()), false),
                Standing::Declined => (None, true),
            };
            sqlx::query("UPDATE chats SET request_from = ?, declined = ? WHERE chat_id = ?")
                .bind(from)
                .bind(declined as i64)
                .bind(chat)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if declined {
                for sql in [
                    "DELETE FROM messages WHERE chat_id = ?",
                    "DELETE FROM unopened WHERE chat_id = ?",
                ] {
                    sqlx::query(sql)
                        .bind(chat)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.err(e))?;
                }
            }
        }
        for chat in &changes.inactive {
            sqlx::query("UPDATE chats SET active = 0 WHERE chat_id = ?")
                .bind(chat)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        for m in &changes.messages {
            sqlx::query(
                "INSERT INTO messages (chat_id, group_seq, sender_handle, sender_device, text, server_time, \
                 body, franking_key, commitment, binding, sender_name) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, group_seq) DO NOTHING",
            )
            .bind(&m.chat)
            .bind(m.seq as i64)
            .bind(&m.sender)
            .bind(&m.sender_device)
            .bind(&m.text)
            .bind(m.server_time as i64)
            .bind(m.proof.as_ref().map(|p| p.body.as_str()))
            .bind(m.proof.as_ref().map(|p| p.key.to_vec()))
            .bind(m.proof.as_ref().map(|p| p.commitment.to_vec()))
            .bind(m.proof.as_ref().map(|p| p.binding.to_vec()))
            .bind(&m.sender_name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        for u in &changes.unopened {
            sqlx::query(
                "INSERT INTO unopened (chat_id, group_seq, what, sender_handle, sender_device, \
                 server_time, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (chat_id, group_seq, what) DO NOTHING",
            )
            .bind(&u.chat)
            .bind(u.seq as i64)
            .bind(&u.what)
            .bind(&u.sender)
            .bind(&u.sender_device)
            .bind(u.server_time as i64)
            .bind(&u.reason)
            .bind(&u.payload)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        if let Some(out) = &changes.outbox {
            sqlx::query("DELETE FROM outbox")
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if let Some(o) = out {
                sqlx::query(
                    "INSERT INTO outbox (client_id, chat_id, content, message, commitment, \
                     franking_key) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&o.client_id)
                .bind(&o.chat)
                .bind(&o.content)
                .bind(&o.message)
                .bind(o.commitment.as_slice())
                .bind(o.franking_key.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            }
        }
        if let Some(c) = changes.cursor {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('cursor', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(c.to_string().into_bytes())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        for (k, v) in &changes.meta {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(*k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        *before = after.clone();
        Ok(())
    }
}
