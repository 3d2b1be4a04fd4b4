-- Quiet hours (GET/PATCH /me/notification-settings): messages that can wait are held back while
-- it is quiet for the user, in their own time zone (an IANA name); notify keeps them as due at
-- the window's end and its schedule sends them then. All three set, or none.
ALTER TABLE users
    ADD COLUMN quiet_hours_from time,
    ADD COLUMN quiet_hours_to   time,
    ADD COLUMN time_zone        text,
    ADD CONSTRAINT quiet_hours_whole CHECK (
        (quiet_hours_from IS NULL) = (quiet_hours_to IS NULL)
        AND (quiet_hours_from IS NULL) = (time_zone IS NULL)
    );
