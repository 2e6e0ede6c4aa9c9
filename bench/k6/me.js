// Authenticated reads of GET /v1/users/me (or TARGET, a path: /v1/auth/check; `/` of the
// hello-world ceiling): as fast as VUS connections go (RATE unset), or at a fixed arrival rate
// of RATE requests/s.
import http from 'k6/http';
import { check } from 'k6';

const scenario = __ENV.RATE
  ? { executor: 'constant-arrival-rate', rate: Number(__ENV.RATE), timeUnit: '1s',
      duration: __ENV.DURATION, preAllocatedVUs: Number(__ENV.VUS), maxVUs: Number(__ENV.VUS) }
  : { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION };

export const options = {
  scenarios: { me: scenario },
  summaryTrendStats: ['med', 'p(99)', 'avg', 'max'],
};

const params = { headers: { authorization: `Bearer ${__ENV.TOKEN}` } };

export default function () {
  const res = http.get(`${__ENV.BASE}${__ENV.TARGET || '/v1/users/me'}`, params);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
