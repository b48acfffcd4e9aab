import express from 'express'; // npm install express express-oauth2-jwt-bearer
import { auth } from 'express-oauth2-jwt-bearer';

const app = express();
// Discovery, the JWKS and its cache, and key rotation are the library's business.
app.use(auth({ issuerBaseURL: process.env.LATCHKEY_ISSUER, audience: process.env.LATCHKEY_AUDIENCE }));
app.get('/projects/:id', (req, res) => res.json({ caller: req.auth.payload.sub, scope: req.auth.payload.scope }));
app.listen(process.env.PORT ?? 3000);
