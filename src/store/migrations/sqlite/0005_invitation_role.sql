-- The role a person gets when their invitation is consumed (an admin can be invited).
ALTER TABLE invitations ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
