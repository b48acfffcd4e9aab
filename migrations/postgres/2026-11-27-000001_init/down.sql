DROP TABLE api_keys;
DROP TABLE signing_keys;
DROP TABLE orgs;
