import { Section } from "../components";
import { t, useI18n } from "../i18n";

// Statistics, reports, responsibility and penalty records, review plans: their API is being built; each gets its
// screen here when it lands (one section per capability, no query is sent before then).
export const MANAGEMENT_SCREENS = ["statistics", "reports", "accountability", "reviews"] as const;

export function Management() {
  useI18n();
  return (
    <main id="main">
      <h1>{t("management.title")}</h1>
      {MANAGEMENT_SCREENS.map((name) => (
        <Section key={name} title={t(`management.${name}`)}>
          <p>{t("management.coming")}</p>
        </Section>
      ))}
    </main>
  );
}
