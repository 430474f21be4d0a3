-- Several desks on one database: every new policy version is announced with NOTIFY, so that
-- each desk wakes its long-polling edges and its NATS publisher whichever desk issued it.
-- The payload is only the version; listeners re-read the latest version from their own schema
-- (several schemas of one database share the channel).
CREATE FUNCTION rempart_policy_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rempart_policy', NEW.version::text);
    RETURN NEW;
END $$;
CREATE TRIGGER policy_versions_notify AFTER INSERT ON policy_versions
FOR EACH ROW EXECUTE FUNCTION rempart_policy_notify();
