//! Norma 43 code tables: ISO 4217 numeric currencies and the AEB common concept codes.

/// ISO 4217 numeric codes of the currencies Spanish accounts are kept in; others stay numeric.
pub(super) fn currency(code: &str) -> Option<String> {
    let name = match code.trim() {
        "" => return None,
        "978" => "EUR",
        "840" => "USD",
        "826" => "GBP",
        "756" => "CHF",
        "392" => "JPY",
        other => other,
    };
    Some(name.to_owned())
}

/// The AEB common concept codes, for a movement that carries no text of its own.
pub(super) fn concept_name(code: &str) -> String {
    let name = match code {
        "01" => "Talones - reintegros",
        "02" => "Abonarés - entregas - ingresos",
        "03" => "Domiciliados - recibos - letras - pagos por su cuenta",
        "04" => "Giros - transferencias - traspasos - cheques",
        "05" => "Amortizaciones préstamos, créditos, etc.",
        "06" => "Remesas efectos",
        "07" => "Suscripciones - dividendos pasivos - canjes",
        "08" => "Dividendos - cupones - prima junta - amortizaciones",
        "09" => "Operaciones de bolsa y/o compra/venta valores",
        "10" => "Cheques gasolina",
        "11" => "Cajero automático",
        "12" => "Tarjetas de crédito - tarjetas de débito",
        "13" => "Operaciones extranjero",
        "14" => "Devoluciones e impagados",
        "15" => "Nóminas - seguros sociales",
        "16" => "Timbres - corretaje - póliza",
        "17" => "Intereses - comisiones - custodia - gastos e impuestos",
        "98" => "Anulaciones - correcciones asiento",
        "99" => "Varios",
        other => return format!("Concepto {}", other.trim()),
    };
    name.to_owned()
}
