import { useState } from "react";
import { InputForm, RequestError, UserErrors, usePayloadMutation } from "../components";
import { t } from "../i18n";
import { RecordComplaintDocument } from "../ops";
import { navigate } from "../router";

export function NewComplaint() {
  const m = usePayloadMutation(RecordComplaintDocument);
  const [done, setDone] = useState<{ id: string; number: string; accessCode: string | null } | null>(null);
  return (
    <main id="main" className="narrow">
      <h1>{t("new.title")}</h1>
      {done ? (
        <div className="card" role="status">
          <p>{t("new.recorded", { number: done.number })}</p>
          {done.accessCode ? <p>{t("new.accessCode")}: <code data-testid="access-code">{done.accessCode}</code></p> : null}
          <button type="button" onClick={() => navigate(`/cases/${encodeURIComponent(done.id)}`)}>{t("new.open")}</button>
        </div>
      ) : (
        <div className="card">
          <InputForm inputType="RecordComplaintInput" fixed={{}} submitLabel={t("new.submit")} busy={m.fetching}
            initial={{ channel: "PHONE", scope: "DOMESTIC" }}
            onSubmit={async (input) => {
              const res = await m.run({ input });
              const p = res.data?.recordComplaint;
              if (p?.complaint) setDone({ id: p.complaint.id, number: p.complaint.number, accessCode: p.accessCode ?? null });
            }} />
          <UserErrors errors={m.userErrors} />
          <RequestError error={m.error} />
        </div>
      )}
    </main>
  );
}
