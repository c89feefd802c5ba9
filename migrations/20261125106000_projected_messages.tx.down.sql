DROP TABLE IF EXISTS projected_messages;
