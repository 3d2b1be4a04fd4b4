-- Which of an account's channels may be written to, defined once for every reader (GET /me in
-- the auth functions, notify): those whose current address on the account has a verified row in
-- contact_verifications (proved by its code, or vouched for). A changed address is unproved.
CREATE FUNCTION verified_channels(u users) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT ARRAY(
        SELECT cv.channel FROM contact_verifications cv
        WHERE cv.user_id = u.id AND cv.verified_at IS NOT NULL
          AND cv.address = CASE cv.channel WHEN 'email' THEN u.email
                                           WHEN 'sms' THEN u.phone
                                           ELSE u.telegram_chat_id::text END
        ORDER BY cv.channel)
$$;
